"""mp4 writing: labels that say what each panel is and which step a frame shows."""

import imageio.v3 as iio
import numpy as np
import pytest

from wmgym.video import FPS, error_frames, label, side_by_side, write_mp4


def test_titles_and_captions_are_bands_of_text_around_the_frames():
    frames = np.full((3, 64, 130, 3), 128, np.uint8)
    out = label(frames, titles=("truth", "dream"), captions=[f"step {t}" for t in range(3)])
    assert out.shape[0] == 3 and out.shape[2] == 130 and out.shape[1] > 64
    band = (out.shape[1] - 64) // 2  # as high above as below
    np.testing.assert_array_equal(out[:, band : band + 64], frames)  # the frames themselves untouched
    title, caption = out[:, :band], out[:, band + 64 :]
    assert title.max() > 128 and (title[0] == title[2]).all()  # white text, the same over every frame
    assert title[:, :, :65].max() > 128 and title[:, :, 65:].max() > 128  # one title over each panel
    assert caption.max() > 128 and (caption[0] != caption[2]).any()  # a counter that changes
    np.testing.assert_array_equal(label(frames), frames)


def test_write_mp4_plays_at_the_shared_rate_with_its_labels(tmp_path):
    t, d = np.zeros((5, 16, 16, 3), np.uint8), np.full((5, 16, 16, 3), 200, np.uint8)
    frames = side_by_side(t, d, error_frames(t, d))
    path = write_mp4(frames, tmp_path / "v.mp4", titles=("a", "b", "c"), captions=[str(i) for i in range(5)])
    assert iio.immeta(path)["fps"] == FPS
    video = iio.imread(path, index=None)
    assert len(video) == 5 and video.shape[1] > 16 * 4
    with pytest.raises(ValueError, match="2 captions for 5 frames"):
        write_mp4(frames, tmp_path / "w.mp4", captions=["0", "1"])
