"""benchmarks/bench_profile.py: the phase timer's accounting, on a hand-made clock."""

from _scripts import load_script

bench_profile = load_script("benchmarks/bench_profile.py")


class Work:
    def outer(self):
        self.inner()
        self.inner()
        return "done"

    def inner(self):
        return None


def test_a_phase_excludes_the_phases_it_calls_and_the_originals_come_back(monkeypatch):
    # perf_counter readings in call order: outer starts at 0; inner runs 1-3 and 4-5; outer
    # ends at 9. Outer took 9 s of which 3 in inner: its own time is 6.
    clock = iter([0.0, 1.0, 3.0, 4.0, 5.0, 9.0])
    monkeypatch.setattr(bench_profile.time, "perf_counter", lambda: next(clock))
    outer, inner = Work.__dict__["outer"], Work.__dict__["inner"]
    timer = bench_profile.PhaseTimer(((Work, "outer", "outer"), (Work, "inner", "inner")))
    with timer:
        assert Work().outer() == "done"
    assert timer.seconds == {"outer": 6.0, "inner": 3.0}
    assert timer.calls == {"outer": 1, "inner": 2}
    assert Work.__dict__["outer"] is outer and Work.__dict__["inner"] is inner


def test_every_phase_names_a_function_the_model_has():
    for owner, name, _label in bench_profile.PHASES:
        assert callable(owner.__dict__[name])
