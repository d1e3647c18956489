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


def test_generate_new_samplers_in_transformers_order(capsys):
    args = ["generate", "Hello world", "--typical", "0.9", "--eta", "0.001", "--repetition-penalty", "1.3",
            "--temperature", "0.8", "--seed", "4", "--max-new-tokens", "6"]
    assert main(args) == 0
    model, tok = tiny_gpt2()
    ids = torch.tensor([tok.encode("Hello world")])
    out = generate(model, ids, 6, temperature=0.8, typical=0.9, eta=0.001, repetition_penalty=1.3,
                   generator=torch.Generator().manual_seed(4))
    assert capsys.readouterr().out == "Hello world" + tok.decode(out[0, ids.shape[1]:]) + "\n"


def test_generate_chain_gives_the_order(capsys):
    args = ["generate", "Hello world", "--chain", "min_p=0.05, temperature=2,top_n_sigma=1.5", "--seed", "5",
            "--max-new-tokens", "6", "--repetition-penalty", "1.2"]
    assert main(args) == 0
    model, tok = tiny_gpt2()
    ids = torch.tensor([tok.encode("Hello world")])
    steps = [("min_p", 0.05), ("temperature", 2.0), ("top_n_sigma", 1.5)]
    out = generate(model, ids, 6, steps=steps, repetition_penalty=1.2, generator=torch.Generator().manual_seed(5))
    assert capsys.readouterr().out == "Hello world" + tok.decode(out[0, ids.shape[1]:]) + "\n"


@pytest.mark.parametrize(
    "chain, message",
    [
        ("min_p=0.1,topk=3", "unknown step 'topk'; the steps are temperature, top_k"),
        ("top_k=2.5", "top_k needs an integer, got '2.5'"),
        ("typical=much", "typical needs a number, got 'much'"),
        ("min_p=0.1,top_p=3", r"steps[1] ('top_p'): p must be in (0, 1], got 3.0"),
        ("min_p", "expected name=value steps separated by commas, got 'min_p'"),
        ("eta=1", r"steps[0] ('eta'): epsilon must be in (0, 1), got 1.0"),
    ],
)
def test_generate_bad_chain_is_a_usage_error(capsys, chain, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "Hi", "--chain", chain])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_generate_chain_replaces_the_sampler_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "Hi", "--chain", "min_p=0.1", "--top-p", "0.9", "--temperature", "0.7"])
    assert exit_info.value.code == 2
    assert "--chain gives every sampler in its order: put --temperature, --top-p in it instead" in capsys.readouterr().err


def test_generate_bad_new_sampler_value_is_an_error(capsys):
    assert main(["generate", "Hi", "--epsilon", "1.5"]) == 1
    assert "epsilon must be in [0, 1), got 1.5" in capsys.readouterr().err
    assert main(["generate", "Hi", "--repetition-penalty", "0"]) == 1
    assert "penalty must be > 0, got 0.0" in capsys.readouterr().err


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
