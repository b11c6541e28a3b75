"""MTL_TEST_SIGNAL_AT: the hook that puts a signal at a known training step."""

import pytest

from mtl.core.errors import MtlError
from mtl.distributed.preempt import NONE, WARN, Flag, signal_hook


def test_unset_is_a_no_op():
    hook = signal_hook(0, Flag(), env={})
    hook(1, 0)  # nothing happens


@pytest.mark.parametrize("spec", ["1", "1:2", "x:2:USR2", "1:2:NOPE", "1:2:USR2:0:9"])
def test_a_malformed_spec_is_one_error(spec):
    with pytest.raises(MtlError, match="EPOCH:STEP:SIGNAL"):
        signal_hook(0, Flag(), env={"MTL_TEST_SIGNAL_AT": spec})


def test_the_signal_arrives_at_that_step_of_that_rank_once(tmp_path):
    flag = Flag().install("USR2")
    try:
        ready = tmp_path / "ready"
        env = {"MTL_TEST_SIGNAL_AT": "2:3:USR2:1", "MTL_TEST_SIGNAL_READY": str(ready)}
        signal_hook(0, flag, env=env)(2, 3)  # another rank: nothing
        assert flag.value == NONE and not ready.exists()
        hook = signal_hook(1, flag, env=env)
        hook(2, 2)
        hook(1, 3)
        assert flag.value == NONE
        hook(2, 3)
        assert flag.value == WARN and ready.read_text().strip().isdigit()
        flag.value = NONE
        hook(2, 3)  # once per process
        assert flag.value == NONE
        signal_hook(1, flag, env=env)(2, 3)  # READY is there: a restarted process skips it
        assert flag.value == NONE
    finally:
        flag.uninstall()
