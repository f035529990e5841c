"""The live player (``simulate --connect``) on a task.Clock with fake connections: what it sends,
and what it does with the replies, when a takeover cuts a request's reply."""

import json

from twisted.internet import defer, task
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from callcenter.sim.live import LiveCaller, LiveFactory, LivePlayer, Opening
from callcenter.sim.simulate import Model, Segment


def connection(client):
    protocol = LiveFactory(client).buildProtocol(None)
    protocol.makeConnection(StringTransport())  # the client hears connectionMade
    return protocol


def sent(protocol):
    """The requests written since the last look, decoded."""
    lines = protocol.transport.value().decode().splitlines()
    protocol.transport.clear()
    return [json.loads(line) for line in lines]


def answer_lost_in_a_takeover():
    """A player whose answer for call sim1-1 at operator A went to a leader that then died;
    the new leader's connection, with the answer pressed again on it."""
    clock = task.Clock()
    model = Model([Segment(0.0, 60.0, 0.0)], ["A"], handle_time=30.0, handle_distribution="fixed")
    new_leader = connection(Opening())  # connected, as connect_to_leader hands it over
    player = LivePlayer(clock, model, seed=1, speed=1.0, reconnect=lambda: defer.succeed(new_leader))
    old_leader = connection(player)
    player.callers["sim1-1"] = LiveCaller(0.0, None)
    player.heard([{"event": "CallRinging", "call": "sim1-1", "operator": "A"}])
    clock.advance(0)  # answered at once (no answer delay)
    assert sent(old_leader) == [{"command": "answer", "id": "A"}]
    player.disconnected(Failure(ConnectionLost()))
    assert sent(new_leader) == [{"command": "answer", "id": "A"}]  # pressed again
    return clock, player, new_leader


def test_an_answer_the_old_leader_stored_goes_on_talking_after_the_takeover():
    clock, player, new_leader = answer_lost_in_a_takeover()
    player.received("error", "operator A is busy, not ringing", [])
    assert sent(new_leader) == [{"command": "status"}]
    player.received("response", "Operator A busy with call sim1-1", [])
    # The call talks: its caller hangs up after the handle time, as after any answer.
    clock.advance(30)
    assert sent(new_leader) == [{"command": "hangup", "id": "sim1-1"}]
    player.received("response", "Call sim1-1 finished and operator A available", [])
    assert player.callers == {} and player.lost_replies == 1 and player.unexpected == 0


def test_an_answer_pressed_again_that_the_new_leader_refuses_is_one_unexpected_reply():
    clock, player, new_leader = answer_lost_in_a_takeover()
    player.received("error", "operator A is available, not ringing", [])
    assert sent(new_leader) == [{"command": "status"}]
    player.received("response", "Operator A available", [])
    clock.advance(60)
    assert sent(new_leader) == []  # no hangup of a call the server does not have talking
    assert player.unexpected == 1 and "sim1-1" in player.callers


def test_an_answer_pressed_again_that_rings_is_answered_as_usual():
    clock, player, new_leader = answer_lost_in_a_takeover()
    player.received(
        "response", "Call sim1-1 answered by operator A", [{"event": "CallAnswered", "call": "sim1-1", "operator": "A"}]
    )
    clock.advance(30)
    assert sent(new_leader) == [{"command": "hangup", "id": "sim1-1"}]
    assert player.unexpected == 0
