"""One progress implementation: log lines with count, rate and ETA away from a terminal."""

import logging

from promethium.data.progress import ProgressBar, progress


def test_progress_logs_the_count_and_the_end_when_not_on_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="promethium.progress")
    assert list(progress(range(5), 10, "Modelling shots", unit=2, unit_name="shots")) == [
        0,
        1,
        2,
        3,
        4,
    ]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1].startswith("Modelling shots: 10/10 shots,") and "ETA 0 s" in lines[-1]


def test_progress_bar_counts_after_begin_and_can_be_silenced(caplog):
    caplog.set_level(logging.INFO, logger="promethium.progress")
    bar = ProgressBar("infer", unit="patches", log_every=0.0)
    bar.begin(8)
    bar.advance(3)
    assert bar.done == 3 and bar.rate() > 0
    assert "infer: 3/8 patches" in caplog.records[-1].getMessage()
    bar.close()
    silent = ProgressBar("quiet", 4, enabled=False)
    silent.advance(4)
    silent.close()
    assert not any("quiet" in r.getMessage() for r in caplog.records)
