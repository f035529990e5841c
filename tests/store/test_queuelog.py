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


class Collected(object):
    """What a QueueLog writes, kept as lines."""

    def __init__(self):
        self.lines = []

    def write(self, lines):
        self.lines.extend(lines)


def logged(operators=("A", "B"), queues=None, **options):
    """A call center at epoch 1733040000 whose events are written as queue_log lines."""
    from twisted.internet.task import Clock as TestClock

    from callcenter.core.asterisk import Membership
    from callcenter.core.center import CallCenter
    from callcenter.core.queues import parse_queues
    from callcenter.net.amiqueue import default_configs
    from callcenter.store.queuelog import QueueLog, QueueLogLines

    clock = TestClock()
    clock.advance(1733040000)
    configs = parse_queues(queues) if queues else None
    center = CallCenter(operators, clock.callLater, now=clock.seconds, queues=configs, **options)
    out = Collected()
    membership = Membership(configs or default_configs(operators, "linear", 0, 0.0))
    center.subscribe(QueueLog(QueueLogLines(membership), out))
    return center, clock, out


def run(center, clock, *commands):
    """Commands in order; ``advance N`` moves the clock N seconds in half-second steps (each
    timer fires at its own time)."""
    for command in commands:
        word, _, argument = command.partition(" ")
        if word == "advance":
            for _ in range(int(float(argument) * 2)):
                clock.advance(0.5)
        else:
            center.execute(word, argument)


def test_a_call_from_enterqueue_to_completecaller():
    center, clock, out = logged(ring_timeout=0)
    run(center, clock, "call 1", "advance 4", "answer A", "advance 65", "hangup 1")
    assert out.lines == [
        "1733040000|1733040000.1|default|NONE|ENTERQUEUE||1|1\n",
        "1733040004|1733040000.1|default|A|CONNECT|4|1733040000.1-A|4\n",
        "1733040069|1733040000.1|default|A|COMPLETECALLER|4|65|1\n",
    ]


def test_waiting_abandon_timeout_and_rings_that_end_unanswered():
    center, clock, out = logged(operators=("A",), ring_timeout=10, max_wait=20)
    run(center, clock, "call 1", "call 2", "call 3", "advance 2.5", "reject A", "advance 10", "hangup 3")
    run(center, clock, "advance 7.5")
    assert out.lines == [
        "1733040000|1733040000.1|default|NONE|ENTERQUEUE||1|1\n",
        "1733040000|1733040000.2|default|NONE|ENTERQUEUE||2|1\n",
        "1733040000|1733040000.3|default|NONE|ENTERQUEUE||3|2\n",
        "1733040002|1733040000.1|default|A|RINGNOANSWER|2500\n",  # rejected, rings A again
        "1733040012|1733040000.1|default|A|RINGNOANSWER|10000\n",  # ignored
        "1733040012|1733040000.3|default|NONE|ABANDON|2|2|12\n",
        "1733040020|1733040000.2|default|NONE|EXITWITHTIMEOUT|1|1|20\n",
    ]


def test_a_ring_canceled_by_the_caller_and_presence_lines():
    center, clock, out = logged(operators=("A",), queues="[sales]\noperators = A\n\n[vip]\noperators = A:1\n")
    run(center, clock, "call 1 queue=vip", "advance 1.5", "hangup 1", "pause A lunch break", "unpause A")
    run(center, clock, "login Z", "logout Z")
    assert out.lines == [
        "1733040000|1733040000.1|vip|NONE|ENTERQUEUE||1|1\n",
        "1733040001|1733040000.1|vip|A|RINGCANCELED|1500\n",
        "1733040001|1733040000.1|vip|NONE|ABANDON|1|1|1\n",
        "1733040001|NONE|sales|A|PAUSE|lunch break\n",
        "1733040001|NONE|vip|A|PAUSE|lunch break\n",
        "1733040001|NONE|sales|A|UNPAUSE|\n",
        "1733040001|NONE|vip|A|UNPAUSE|\n",
        "1733040001|NONE|sales|Z|ADDMEMBER|\n",
        "1733040001|NONE|sales|Z|REMOVEMEMBER|\n",
    ]


def test_an_operator_that_hangs_up_is_completeagent():
    center, clock, out = logged(ring_timeout=0, wrap_up=5)
    run(center, clock, "call 1", "call 2", "call 3", "advance 4", "answer B", "advance 30", "finish B")
    assert out.lines[-1] == "1733040034|1733040000.2|default|B|COMPLETEAGENT|4|30|1\n"


def test_a_level_change_is_penalty_for_each_queue_named_by_the_interface():
    center, clock, out = logged(operators=("A",), queues="[sales]\noperators = A\n\n[vip]\noperators = A:1\n")
    run(center, clock, "level A 1", "advance 2", "level A 7 queue=vip", "login Z", "level Z 3")
    assert out.lines == [
        "1733040000|NONE|sales|Agent/A|PENALTY|1\n",
        "1733040002|NONE|vip|Agent/A|PENALTY|7\n",
        "1733040002|NONE|sales|Z|ADDMEMBER|\n",
        "1733040002|NONE|sales|Agent/Z|PENALTY|3\n",
    ]
