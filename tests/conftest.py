"Shared pytest settings: on CI, hypothesis runs a fixed set of examples so a run can be repeated exactly; fixtures the Learner tests share."
import os
import pytest
import torch
from hypothesis import settings

settings.register_profile('ci', derandomize=True, print_blob=True)
if os.environ.get('CI'): settings.load_profile('ci')


@pytest.fixture
def one_thread():
    "Tiny matrices: one torch thread is faster and steadier on a busy machine (a test module opts in with `pytestmark`)."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def dls():
    "The digits of lesson 06, loaded once per test module."
    from fdl.learner import digits_dls
    return digits_dls()
