"""ScoreTally: the counts one scoring run writes, whole-frame and as bands of rows."""

import numpy as np
import pytest

from bgsub.metrics import confusion_counts
from bgsub.tally import ScoreTally

THRESHOLDS = np.linspace(0.0, 10.0, 21, dtype=np.float32)


def _block(seed: int = 0) -> tuple[list[int], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 10, (4, 6, 5)).astype(np.float32)
    labels = rng.choice(np.array([0, 50, 85, 170, 255], np.uint8), (4, 6, 5))
    return [11, 12, 13, 14], scores, labels


def test_counts_only_scored_frames_by_hand() -> None:
    numbers, scores, labels = _block()
    tally = ScoreTally(THRESHOLDS, 5.0, scored=[12, 14])
    masks = scores > np.float32(5.0)
    tally.add(numbers, scores, masks, lambda n: labels[numbers.index(n)], None)
    rows = tally.frame_counts()
    assert rows[:, 0].tolist() == [12, 14]
    for row, t in zip(rows, (1, 3)):
        assert row[1:].tolist() == list(confusion_counts(masks[t], labels[t], None))
    # the sweep at the run's threshold gives the summed per-frame counts
    at = int(np.searchsorted(THRESHOLDS, np.float32(5.0)))
    sweep = tally.sweep.counts()
    assert [int(sweep[k][at]) for k in ("tp", "fp", "fn", "tn")] == rows[:, 1:].sum(axis=0).tolist()


def test_bands_merge_to_the_whole_frame_and_survive_save_load(tmp_path) -> None:
    numbers, scores, labels = _block(1)
    roi = np.ones((6, 5), bool)
    roi[0, 0] = False
    masks = scores > np.float32(4.0)
    whole = ScoreTally(THRESHOLDS, 4.0, numbers)
    whole.add(numbers, scores, masks, lambda n: labels[numbers.index(n)], roi)
    parts = []
    for r0, r1 in ((0, 2), (2, 6)):
        band = ScoreTally(THRESHOLDS, 4.0, numbers)
        band.add(numbers, scores[:, r0:r1], masks[:, r0:r1], lambda n, r0=r0, r1=r1: labels[numbers.index(n), r0:r1],
                 roi[r0:r1])
        band.save(tmp_path / f"band{r0}.npz", rows=(r0, r1))
        parts.append(ScoreTally.load(tmp_path / f"band{r0}.npz"))
    assert [rows for _, rows in parts] == [(0, 2), (2, 6)]
    merged = parts[0][0]
    merged.merge_band(parts[1][0])
    np.testing.assert_array_equal(merged.frame_counts(), whole.frame_counts())
    np.testing.assert_array_equal(merged.sweep.positive_hist, whole.sweep.positive_hist)
    np.testing.assert_array_equal(merged.sweep.negative_hist, whole.sweep.negative_hist)
    whole.save(tmp_path / "whole.npz")
    loaded, rows = ScoreTally.load(tmp_path / "whole.npz")
    assert rows is None and loaded.threshold == np.float32(4.0)
    np.testing.assert_array_equal(loaded.frame_counts(), whole.frame_counts())


def test_bands_of_other_frames_do_not_merge() -> None:
    a = ScoreTally(THRESHOLDS, 4.0, [1])
    a.frames = [(1, 0, 0, 0, 1)]
    b = ScoreTally(THRESHOLDS, 4.0, [2])
    b.frames = [(2, 0, 0, 0, 1)]
    with pytest.raises(ValueError, match="other thresholds or frames"):
        a.merge_band(b)
