"""Progress of the pipeline's stages: shown only through the display the command line hands in."""

from __future__ import annotations

from contextlib import contextmanager

from kolang.pipeline.progress import Phases, shown, ticking


def recorder():
    events = []

    @contextmanager
    def show(name, total):
        events.append(("open", name, total))
        yield lambda done, info="": events.append(("tick", name, done))
        events.append(("close", name))

    return show, events


def test_a_build_shows_one_display_a_phase_each_closed_before_the_next_opens():
    show, events = recorder()
    with Phases(show, "sweep/koko0/organism ") as update:
        for step in (1, 2):
            update("train", step, 2)
        update("evaluate", 5, 10)
    assert events == [("open", "sweep/koko0/organism train", 2), ("tick", "sweep/koko0/organism train", 1),
                      ("tick", "sweep/koko0/organism train", 2), ("close", "sweep/koko0/organism train"),
                      ("open", "sweep/koko0/organism evaluate", 10), ("tick", "sweep/koko0/organism evaluate", 5),
                      ("close", "sweep/koko0/organism evaluate")]


def test_without_a_display_nothing_is_shown_and_the_work_still_runs():
    with Phases(None) as update:
        assert update is None  # build(progress=None): no callback at all
    with ticking(None, "rl", 3) as tick:
        assert tick is None
    assert shown(None, "rl", 3, lambda tick: {"tick": tick})() == {"tick": None}


def test_a_stage_opens_its_display_only_when_it_runs():
    show, events = recorder()
    stage = shown(show, "tune", 2, lambda tick: [tick(1), tick(2)] and {"done": 2})
    assert events == []  # made, not run: a stage reused from the ledger shows nothing
    assert stage() == {"done": 2}
    assert events == [("open", "tune", 2), ("tick", "tune", 1), ("tick", "tune", 2), ("close", "tune")]
