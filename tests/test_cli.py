"""python -m lmsample: generate and tune from the command line (on the tiny GPT-2)."""
import os
import subprocess
import sys

import pytest
import torch

from lmsample import generate, tiny_gpt2
from lmsample.__main__ import main


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch):
    monkeypatch.setenv("LMSAMPLE_MODEL", "tiny-gpt2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_generate_prints_the_prompt_and_a_reproducible_continuation(capsys):
    args = ["generate", "Hello world", "--top-p", "0.9", "--top-k", "50", "--seed", "3", "--max-new-tokens", "6"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    model, tok = tiny_gpt2()
    ids = torch.tensor([tok.encode("Hello world")])
    out = generate(model, ids, 6, top_p=0.9, top_k=50, generator=torch.Generator().manual_seed(3))
    assert first == "Hello world" + tok.decode(out[0, ids.shape[1]:]) + "\n"


def test_generate_several_samples_and_greedy(capsys):
    assert main(["generate", "Hi", "--num", "2", "--seed", "0", "--max-new-tokens", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 2
    assert main(["generate", "Hi", "--temperature", "0", "--max-new-tokens", "3"]) == 0


def test_generate_bad_setting_is_an_error_not_a_traceback(capsys):
    assert main(["generate", "Hi", "--top-p", "1.5"]) == 1
    assert "p must be in (0, 1]" in capsys.readouterr().err


def test_tune_prints_k_and_p_with_their_coverage(tmp_path, capsys):
    text = tmp_path / "held_out.txt"
    text.write_text("We the People of the United States, in Order to form a more perfect Union, establish Justice. " * 3)
    assert main(["tune", str(text), "--coverage", "0.9", "--no-progress", "--window", "16"]) == 0
    out = capsys.readouterr().out
    assert f"text: {text}" in out and "top-k: k = " in out and "top-p: p = " in out and "target coverage 90.0%" in out


def test_tune_rejects_a_bad_coverage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--coverage", "1.5"])
    assert exit_info.value.code == 2


def test_python_dash_m_entry_point():
    env = dict(os.environ, LMSAMPLE_MODEL="tiny-gpt2", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "lmsample", "generate", "Once", "--seed", "0", "--max-new-tokens", "3"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Once")
