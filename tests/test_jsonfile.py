from wmgym.jsonfile import read_object, written_by


def test_read_object_gives_the_object_or_nothing(tmp_path):
    good, torn, listed = tmp_path / "good.json", tmp_path / "torn.json", tmp_path / "list.json"
    good.write_text('{"wmgym": "bench", "n": 1}')
    torn.write_text('{"wmgym": "be')  # a crash mid-write
    listed.write_text("[1, 2]")
    assert read_object(good) == {"wmgym": "bench", "n": 1}
    assert read_object(torn) == {} and read_object(listed) == {} and read_object(tmp_path / "missing") == {}
    assert read_object(tmp_path) == {}  # a folder
    assert written_by(good, "bench") and not written_by(good, "gap") and not written_by(torn, "bench")
