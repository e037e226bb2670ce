"""cpu_memory: freed host buffers are reused (no fresh page faults); the library turns this on at import."""

import os
import subprocess
import sys

import pytest

_SCRIPT = """
import sys
import numpy
from tinygrad_med import cpu_memory
if sys.argv[1] == "reuse":
    assert cpu_memory.reuse_freed_memory()
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2**21
for _ in range(3):  # warm up: the heap grows to its peak once
    a = numpy.ones(n, numpy.float32); b = numpy.ones(n, numpy.float32); del a, b
before = cpu_memory.page_faults()
for _ in range(20):  # allocate and free two buffers (8 MiB by default), writing every page
    a = numpy.ones(n, numpy.float32); b = numpy.ones(n, numpy.float32); del a, b
print(cpu_memory.page_faults() - before)
"""


def _faults(mode, env_value=None, elements=2**21):
    env = dict(os.environ)
    env.pop("TGM_REUSE_HOST_MEMORY", None)
    if env_value is not None:
        env["TGM_REUSE_HOST_MEMORY"] = env_value
    command = [sys.executable, "-c", _SCRIPT, mode, str(elements)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and page-fault counts")
def test_freed_buffers_are_reused_without_page_faults():
    fresh, reused = _faults("default", env_value="0"), _faults("reuse", env_value="0")
    # 20 x 16 MiB of fresh pages is ~80,000 faults (fewer with huge pages); reused memory takes almost none.
    assert fresh > 1000
    assert reused < fresh / 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and page-fault counts")
def test_importing_the_library_applies_the_reuse_policy():
    """A user's own script (no tgm, no call) gets the reuse; TGM_REUSE_HOST_MEMORY=0 keeps glibc's defaults."""
    by_library, opted_out = _faults("default"), _faults("default", env_value="0")
    assert opted_out > 1000
    assert by_library < opted_out / 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and page-fault counts")
def test_buffers_above_the_largest_mmap_threshold_are_reused_too():
    """64 MiB buffers (a 512^2 U-Net activation): above glibc's 32 MiB cap on M_MMAP_THRESHOLD, kept by M_MMAP_MAX=0."""
    fresh, reused = _faults("default", env_value="0", elements=2**24), _faults("default", elements=2**24)
    assert fresh > 1000
    assert reused < fresh / 20


def test_policy_reports_what_was_set_and_refuses_a_bad_setting(monkeypatch):
    from tinygrad_med import cpu_memory

    monkeypatch.setenv("TGM_REUSE_HOST_MEMORY", "yes")
    with pytest.raises(ValueError, match="'0' .* or '1' .* got 'yes'"):
        cpu_memory.apply_policy()
    monkeypatch.setenv("TGM_REUSE_HOST_MEMORY", "0")
    assert cpu_memory.apply_policy() == cpu_memory.policy()["reuse_freed_memory"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page-fault counts from getrusage")
def test_page_faults_count_fresh_pages():
    """Writing 64 MiB that the process never had takes at least one fault per 2 MiB huge page, so at least 32; a
    count that stood still would fail here. In a fresh process: in this one, an earlier test (tgm's commands) may
    have turned on reuse_freed_memory, and freed memory would serve the buffer without a fault."""
    script = (
        "import numpy; from tinygrad_med import cpu_memory; before = cpu_memory.page_faults(); "
        "fresh = numpy.ones(2**24, numpy.float32); print(cpu_memory.page_faults() - before)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(done.stdout.split()[-1]) >= 32
