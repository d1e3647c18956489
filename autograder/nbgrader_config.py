"""nbgrader course configuration for lmsample.

The course root is this folder; the nbgrader source of each lesson lives in ../solutions and
`nbgrader generate_assignment ID` writes the student version to ../lessons. Run every nbgrader
command from this folder.
"""
import os

c = get_config()  # noqa: F821  (provided by nbgrader/traitlets)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "lmsample"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = os.path.join(os.pardir, "solutions")
c.CourseDirectory.release_directory = os.path.join(os.pardir, "lessons")
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# A test cell that a student deleted or stripped of its metadata is put back, not silently skipped.
c.OverwriteCells.add_missing_cells = True
# Per-cell time limit while grading.
c.Execute.timeout = 60
