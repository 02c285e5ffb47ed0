"""Ray with fractional GPUs: ``gpus_per_trial=0.25`` packs four slots on one GPU and a fifth trial
waits for one of them; each actor sees the GPU Ray gave it in CUDA_VISIBLE_DEVICES. The session's
cluster (conftest.py) says its head has one GPU; there is none, so the trials run on the CPU
(the executor's device is set to "cpu": Ray's accounting is what is tested, not CUDA)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torchsearch as ts
from torchsearch.executors.ray import Ray
from torchsearch.schedulers import Grid
from tests.executors.test_ray import needs_ray


class FourAtOnce:
    """Trials 0-3 wait until four trials have started (so four must run at once); each reports its
    start and end, its pid, and the GPU ids Ray gave its actor and CUDA_VISIBLE_DEVICES there."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, trial):
        import ray

        start = time.time()
        Path(self.folder, str(trial.number)).write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
        limit = time.monotonic() + 120
        while trial.number < 4 and len(list(Path(self.folder).iterdir())) < 4:
            if time.monotonic() > limit:
                raise ts.TrialFailed(f"trial {trial.number}: four trials never ran at once")
            time.sleep(0.01)
        gpus = [int(g) for g in ray.get_gpu_ids()]
        trial.report({"value": float(trial.params["x"]), "start": start, "end": time.time(), "pid": float(os.getpid()),
                      "gpus": float(len(gpus)), "gpu": float(gpus[0]) if gpus else -1.0}, step=0)


@needs_ray
def test_quarter_gpus_pack_four_trials_on_one_gpu_and_a_fifth_waits(tmp_path, cluster):
    import ray

    assert ray.cluster_resources().get("GPU") == 1
    ex = Ray(cpus_per_trial=0, gpus_per_trial=0.25, max_concurrent=5)
    ex.device = "cpu"  # (no CUDA here: the actors train on the CPU; Ray still reserves a quarter GPU each)
    study = ts.Study(space={"x": ts.Choice([0, 1, 2, 3, 4])}, scheduler=Grid(), metric="value", mode="min",
                     verbose=False)
    with ex:
        assert len(ex._workers) == 4  # the cluster's room: one GPU / 0.25 (max_concurrent=5 asked for more)
        study.run(FourAtOnce(str(tmp_path)), executor=ex)
        trials = sorted(study.trials, key=lambda t: t.number)
        assert [t.state for t in trials] == ["completed"] * 5
        first, fifth = trials[:4], trials[4]
        assert len({t.metrics["pid"][0] for t in first}) == 4  # four actors ...
        assert max(t.metrics["start"][0] for t in first) < min(t.metrics["end"][0] for t in first)  # ... at once
        assert fifth.metrics["start"][0] >= min(t.metrics["end"][0] for t in first)  # the fifth waited for a slot
        assert fifth.metrics["pid"][0] in {t.metrics["pid"][0] for t in first}  # in an actor already there
        # Ray gave every actor GPU 0 (a quarter of it) and set CUDA_VISIBLE_DEVICES to it
        assert {(t.metrics["gpus"][0], t.metrics["gpu"][0]) for t in trials} == {(1.0, 0.0)}
        assert {f.read_text() for f in tmp_path.iterdir()} == {"0"}
