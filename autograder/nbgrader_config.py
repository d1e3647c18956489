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

# --- Hardened grading (lmgrade): sandboxed kernels, limits, feedback without hidden tests ----
import sys  # noqa: E402

# lmgrade lives next to this file; a copy of this file in a throw-away course (tests) finds it
# through the environment or the repository that holds the virtualenv running nbgrader.
for _where in (os.environ.get("LMGRADE_HOME", ""), HERE,
               os.path.join(os.path.dirname(os.path.realpath(sys.prefix)), "autograder")):
    if _where and os.path.isfile(os.path.join(_where, "lmgrade", "execute.py")):
        if _where not in sys.path:
            sys.path.insert(0, _where)
        break
else:
    raise ImportError("lmgrade (autograder/lmgrade) not found: set LMGRADE_HOME to the autograder folder")

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades)

from lmgrade.execute import SandboxExecute  # noqa: E402
from lmgrade.feedback import HideHiddenTests  # noqa: E402
from lmgrade.sanitize import SanitizeFeedback  # noqa: E402

# nbgrader's own list with Execute replaced by the sandboxed, restart-on-hang SandboxExecute.
c.Autograde.autograde_preprocessors = [
    SandboxExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, SanitizeFeedback, CSSHTMLHeaderPreprocessor]
# Per-notebook wall-time budget and per-cell output cap (see lmgrade/execute.py).
c.SandboxExecute.notebook_timeout = 900
c.SandboxExecute.max_output_bytes = 100_000
c.SandboxExecute.max_notebook_output_bytes = 2_000_000
