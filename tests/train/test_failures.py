"""Out of memory ends a run with status `oom`; the calling process lives on."""

import json
import subprocess
import sys
import textwrap

# The child caps its address space just above what it already uses, so the first large activation
# fails inside the real allocator (no mock), and reports the TrainResult it got back.
_SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, resource, sys
    import torch
    torch.set_num_threads(1)
    from mv2search.arch import get_preset
    from mv2search.data import DataOptions, build_datasets
    from mv2search.train import TrainerConfig, train

    options = DataOptions(embedded_train_size=40, embedded_val_size=20, cache_dir=sys.argv[1])
    data = build_datasets("embedded", 256, policy="none", options=options)
    spec = dataclasses.replace(get_preset("mobilevitv2_100"), image_size=256)
    with open("/proc/self/status") as status:
        used_kb = next(int(l.split()[1]) for l in status if l.startswith("VmSize"))
    limit = used_kb * 1024 + 700 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    trainer = TrainerConfig(epochs=1, batch_size=40, num_workers=0, image_size=256)
    result = train(spec, data, trainer)
    print("RESULT " + json.dumps({"status": result.status, "reason": result.reason}))
    """
)


def test_out_of_memory_is_a_status(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["status"] == "oom" and result["reason"].startswith("out of memory")
