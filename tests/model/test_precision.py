"""Which precision ``auto`` picks (its logic, not the clock) and a clear word on missing CUDA."""

import pytest
import torch

from wmgym.errors import DeviceError
from wmgym.model.precision import (
    PrecisionProbe,
    choose_precision,
    cpu_flags,
    faster_precision,
    resolve_device,
    resolve_precision,
)

AVX2 = {"sse4_2", "avx", "avx2", "fma"}


@pytest.mark.parametrize(
    "device_type, flags, cuda_bf16, expected",
    [
        ("cpu", AVX2, False, "fp32"),  # emulated bf16 is 5-14x slower there
        ("cpu", AVX2 | {"avx512f", "avx512_bf16"}, False, "bf16"),
        ("cpu", AVX2 | {"amx_bf16", "amx_tile"}, False, "bf16"),
        ("cpu", set(), True, "fp32"),  # a GPU's support says nothing about the CPU
        ("cuda", set(), True, "bf16"),
        ("cuda", {"avx512_bf16"}, False, "fp32"),  # e.g. a V100
        ("mps", {"amx_bf16"}, True, "fp32"),
    ],
)
def test_auto_picks_bf16_only_where_the_hardware_computes_it(device_type, flags, cuda_bf16, expected):
    assert choose_precision(device_type, flags, cuda_bf16) == expected


@pytest.mark.parametrize("batch, expected", [(None, "bf16"), (1, "fp32"), (64, "fp32"), (256, "bf16"), (4096, "bf16")])
def test_on_a_cpu_auto_picks_bf16_only_for_batches_where_it_paid(batch, expected):
    native = AVX2 | {"avx512f", "avx512_bf16"}
    assert choose_precision("cpu", native, False, batch) == expected
    assert choose_precision("cpu", AVX2, False, batch) == "fp32"
    assert choose_precision("cuda", set(), True, batch) == "bf16"  # a GPU's batch is never too small


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_explicit_precisions_are_kept_and_others_refused():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) in ("bf16", "fp32")
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        resolve_precision("fp16", cpu)


def test_devices_this_machine_lacks_are_named():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(DeviceError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_the_probe_alternates_times_all_but_each_first_step_and_picks_the_faster():
    probe = PrecisionProbe(steps=2)
    fake = {"fp32": [9.0, 2.0, 2.2], "bf16": [9.0, 1.0, 1.4]}  # the first of each: warm-up, not counted
    order = []
    while not probe.done:
        p = probe.next()
        order.append(p)
        probe.record(p, fake[p].pop(0))
    assert order == ["fp32", "bf16"] * 3
    assert probe.seconds == {"fp32": [2.0, 2.2], "bf16": [1.0, 1.4]}
    assert probe.chosen == "bf16"
    assert probe.summary() == {"chosen": "bf16", "median_s": {"fp32": 2.1, "bf16": 1.2}, "steps": 2}
    with pytest.raises(ValueError, match="at least 1 timed step"):
        PrecisionProbe(steps=0)
    fresh = PrecisionProbe()
    with pytest.raises(ValueError, match="asked for a fp32 step"):
        fresh.record("bf16", 1.0)


@pytest.mark.parametrize(
    "seconds, expected",
    [
        ({"fp32": [1.0, 1.1, 5.0], "bf16": [1.2, 1.2, 1.2]}, "fp32"),  # the median, not the mean
        ({"fp32": [2.0], "bf16": [1.0]}, "bf16"),
        ({"fp32": [1.0], "bf16": [1.0]}, "fp32"),  # a tie keeps the reference numerics
        ({"fp32": [2.0], "bf16": []}, "fp32"),
    ],
)
def test_faster_precision_is_the_lower_median(seconds, expected):
    assert faster_precision(seconds) == expected
