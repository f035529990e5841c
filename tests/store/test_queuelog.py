"""The queue_log file (store/queuelog.py): appended, reopened after a rotation, and a disk that
refuses writes (/dev/full) loses no line while it comes back within the bound."""

import os

from twisted.internet.task import Clock

from callcenter.store.queuelog import MAX_PENDING, QueueLogFile, line, queue_start


def test_lines_have_asterisks_shape():
    assert queue_start(1733040000.7) == "1733040000|NONE|NONE|NONE|QUEUESTART|\n"
    assert line(5, "5.1", "sales", "A", "CONNECT", 3, "5.1-A", 2) == "5|5.1|sales|A|CONNECT|3|5.1-A|2\n"
    assert line(5, "NONE", "q", "A", "PAUSE", "tea|cake") == "5|NONE|q|A|PAUSE|tea_cake\n"


def test_appended_and_reopened_after_a_rotation(tmp_path):
    path = str(tmp_path / "queue_log")
    with open(path, "w") as existing:
        existing.write("1|NONE|NONE|NONE|QUEUESTART|\n")
    warnings = []
    output = QueueLogFile(path, Clock().callLater, warnings.append)
    output.write(["2|a|b|c|D|\n", "3|a|b|c|E|\n"])
    os.rename(path, path + ".1")  # logrotate
    output.write(["4|a|b|c|F|\n"])  # still to the file it has open
    output.reopen()
    output.write(["5|a|b|c|G|\n"])
    output.close()
    with open(path + ".1") as rotated, open(path) as fresh:
        assert rotated.read().splitlines() == [
            "1|NONE|NONE|NONE|QUEUESTART|",
            "2|a|b|c|D|",
            "3|a|b|c|E|",
            "4|a|b|c|F|",
        ]
        assert fresh.read() == "5|a|b|c|G|\n"
    assert warnings == []


def test_a_full_disk_keeps_the_lines_and_writes_them_once_it_takes_writes(tmp_path):
    path = str(tmp_path / "queue_log")
    os.symlink("/dev/full", path)
    clock = Clock()
    warnings = []
    output = QueueLogFile(path, clock.callLater, warnings.append)
    output.write(["1|a|q|A|CONNECT|1|a-A|1\n"])
    output.write(["2|a|q|A|COMPLETECALLER|1|9|1\n"])
    assert warnings == [
        "queue_log %s refuses writes (no space left): its lines wait in memory, tried again every 1 s" % path
    ]
    clock.advance(1)  # still full: nothing more said
    assert len(warnings) == 1
    os.remove(path)  # room again
    clock.advance(1)
    assert warnings[1] == "queue_log %s takes writes again" % path
    output.write(["3|NONE|q|A|PAUSE|\n"])
    output.close()
    with open(path) as written:
        assert [text.split("|")[0] for text in written.read().splitlines()] == ["1", "2", "3"]


def test_past_the_bound_the_oldest_lines_are_dropped_and_counted(tmp_path):
    path = str(tmp_path / "queue_log")
    os.symlink("/dev/full", path)
    clock = Clock()
    warnings = []
    output = QueueLogFile(path, clock.callLater, warnings.append)
    batch = ["%d|x|q|A|RINGNOANSWER|%s\n" % (number, "9" * 100) for number in range(1000)]
    batches = MAX_PENDING // len("".join(batch)) + 3
    for _ in range(batches):
        output.write(batch)
    assert output.pending_size <= MAX_PENDING
    os.remove(path)
    clock.advance(1)
    assert warnings[-1].startswith("queue_log %s takes writes again; " % path)
    assert warnings[-1].endswith(" lines were dropped meanwhile")
    dropped = int(warnings[-1].split("; ")[1].split()[0])
    output.close()
    with open(path) as written:
        assert sum(1 for _ in written) + dropped == batches * 1000
