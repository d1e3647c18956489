"""Fixtures shared by several test modules."""
import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: one torch thread is faster than two, and steadier on a shared 2-core machine."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
