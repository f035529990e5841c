"""``callcenter-client``: the shell, with the call center on a server.

Layer: wiring (the client's). The same :class:`CallCenterShell` as the one-process
program checks each command, then :class:`RequestCorrelator` sends it as JSON and prints
the reply when it comes, in order. Stdin is read only once the connection is up, so nothing typed before is
lost: it waits in the pipe or the terminal.
"""

import sys
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Union

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.python.failure import Failure

from callcenter.cli.arguments import AUTH_TOKEN_FILE_VARIABLE, ClientOptions, TokenFileError, parse_or_exit, read_token
from callcenter.cli.output import Output
from callcenter.cli.servers import RotatingEndpoint, is_standby
from callcenter.interfaces import IShellSession
from callcenter.net.protocol import CallCenterClientFactory, CallCenterClientProtocol
from callcenter.net.wire import OPERATORS_REQUEST, QUEUES_REQUEST, ROLE_REQUEST, encode_auth, encode_request

RECONNECT_POLICY = backoffPolicy(initialDelay=0.5, maxDelay=10.0, factor=2.0, jitter=lambda: 0.0)


class RequestCorrelator(object):
    """Sends the shell's commands and matches each reply to its command, in order."""

    def __init__(
        self,
        output: Output,
        token: Optional[str] = None,
        session: Optional[IShellSession] = None,
        servers: Optional[RotatingEndpoint] = None,
    ) -> None:
        """``session``: where the output goes, for flow control with the server connection;
        ``servers``: with several, each connection asks ``role`` and only the leader's is used."""
        self.output = output
        self.session = session
        self.servers = servers if servers is not None and servers.several else None
        self.candidate: "Optional[CallCenterClientProtocol]" = None  # asked its role, not answered yet
        self.token = token  # sent first on every connection, when there is one
        # Fires with None when the server accepts the token (or takes none), or with the
        # server's error when it refuses it; only the first connection's answer counts.
        self.authenticated: defer.Deferred = defer.Deferred()
        self.connection: "Optional[CallCenterClientProtocol]" = None
        self.ever_connected = False
        # What each request in flight was: a command whose reply is printed, or a
        # callable that takes the reply itself (the client's own requests).
        self.awaiting: "Deque[Union[str, Callable[[str, str], None]]]" = deque()
        self.lost_replies = 0
        self._input_ended = False
        self.finished: defer.Deferred = defer.Deferred()

    # The shell's side.

    def send(self, command: str, argument: Optional[str]) -> None:
        request = encode_request(command, argument)
        if self.connection is None:
            self.output.error("not connected to the server (reconnecting); %s was not sent" % command)
            return
        self.connection.transport.write(request)
        self.awaiting.append(command)

    def ask(self, command: str, handle_reply: Callable[[str, str], None]) -> None:
        """A request of the client's own: ``handle_reply(kind, text)`` gets its reply, unprinted."""
        if self.connection is not None:
            self.connection.transport.write(encode_request(command, None))
            self.awaiting.append(handle_reply)

    def input_ended(self) -> defer.Deferred:
        """End of input or quit: ``finished`` fires once the last reply has arrived."""
        self._input_ended = True
        self._finish_if_done()
        return self.finished

    # The connection's side.

    def connected(self, connection: CallCenterClientProtocol) -> None:
        if self.servers is not None:
            # Several servers: this one is used once it says it leads.
            self.candidate = connection
            if self.token is not None:
                connection.transport.write(encode_auth(self.token))
                self.awaiting.append(self._authentication_replied)
            connection.transport.write(encode_request(ROLE_REQUEST, None))
            self.awaiting.append(self._role_replied)
            return
        self._use(connection)
        if self.token is None:
            if not self.authenticated.called:
                self.authenticated.callback(None)
            return
        connection.transport.write(encode_auth(self.token))
        self.awaiting.append(self._authentication_replied)

    def _use(self, connection: CallCenterClientProtocol) -> None:
        if self.ever_connected:
            self.output.error("reconnected to the server")
        self.connection = connection
        self.ever_connected = True
        if self.session is not None:
            self.session.follow(connection.transport)

    def _role_replied(self, kind: str, text: str) -> None:
        candidate, self.candidate = self.candidate, None
        servers = self.servers
        if candidate is None or servers is None:
            return
        if is_standby(kind, text):
            servers.standbys_in_a_row += 1
            if servers.standbys_in_a_row == len(servers.endpoints):
                self.output.error("no server leads yet (%s: %s); trying again" % (servers.current, text))
            servers.advance()
            candidate.transport.loseConnection()
            return
        servers.standbys_in_a_row = 0
        self._use(candidate)
        if not self.authenticated.called:
            self.authenticated.callback(None)

    def release_connection(self) -> None:
        """Before closing: the output's flow control lets go of the connection, since a TLS
        connection closes only once no producer is registered with it."""
        if self.connection is not None:
            self.connection.transport.unregisterProducer()

    def _authentication_replied(self, kind: str, text: str) -> None:
        if kind == "error" and text == "this server takes no token":
            kind = "response"  # nothing to refuse
        if kind == "error" and self.authenticated.called:
            self.output.error("the server refused the token: %s" % text)
        if not self.authenticated.called and (kind != "response" or self.servers is None):
            self.authenticated.callback(None if kind == "response" else text)

    def disconnected(self, reason: Failure) -> None:
        if self.connection is None and (self.candidate is not None or self.servers is not None):
            # A standby we closed, or one lost before it answered: no request of ours was on it.
            self.candidate = None
            self.awaiting = deque(request for request in self.awaiting if isinstance(request, str))
            return
        if self.connection is not None and self.session is not None:
            self.session.unfollow(self.connection.transport)
        self.connection = None
        if self._input_ended and not self.awaiting:
            return  # we closed it
        self.output.error("connection to the server lost (%s); reconnecting" % reason.getErrorMessage())
        while self.awaiting:
            request = self.awaiting.popleft()
            if isinstance(request, str):
                self.output.error("no reply to %s: the connection was lost" % request)
                self.lost_replies += 1
        self._finish_if_done()

    def replied(self, kind: str, text: str) -> None:
        if not self.awaiting:
            self.output.error("the server sent a reply to no request: %s" % text)
            return
        request = self.awaiting.popleft()
        if not isinstance(request, str):
            request(kind, text)
        elif kind == "response":
            self.output.lines(text.split("\n"))
        elif text == "authentication required":
            self.output.error(
                "%s: give the server's token with --auth-token-file or $%s" % (text, AUTH_TOKEN_FILE_VARIABLE)
            )
        else:
            self.output.error(text)
        self._finish_if_done()

    def _finish_if_done(self) -> None:
        if self._input_ended and not self.awaiting and not self.finished.called:
            self.finished.callback(None)


def ask_for_completions(remote: RequestCorrelator, shell: Any) -> None:
    """Tab completion's operator ids and queue names: asked of the server once (an older one
    refuses: nothing is learnt)."""

    def learned(learn: Callable[[List[str]], None]) -> Callable[[str, str], None]:
        def reply(kind: str, text: str) -> None:
            if kind == "response":
                learn(text.split("\n"))

        return reply

    remote.ask(OPERATORS_REQUEST, learned(shell.learn_operators))
    remote.ask(QUEUES_REQUEST, learned(shell.learn_queues))


def main(argv: Optional[List[str]] = None) -> None:
    from twisted.internet import task

    from callcenter.cli import console
    from callcenter.cli.shell import CallCenterShell

    options = parse_or_exit(ClientOptions(), sys.argv[1:] if argv is None else argv)
    token = None
    if options["auth-token-file"] is not None:
        try:
            token = read_token(options["auth-token-file"])
        except TokenFileError as error:
            sys.stderr.write("error: %s\n" % error)
            raise SystemExit(1) from None

    @defer.inlineCallbacks
    def run(reactor: Any) -> Any:
        session = console.open_session(reactor)
        output = session.output
        servers = RotatingEndpoint(reactor, options["servers"])
        remote = RequestCorrelator(output, token, session, servers)
        factory = CallCenterClientFactory(remote)
        connector = ClientService(servers, factory, retryPolicy=RECONNECT_POLICY)
        connector.startService()
        try:
            yield connector.whenConnected(failAfterFailures=len(options["servers"]))
        except Exception as error:
            output.error("cannot connect to the callcenter server at %s: %s" % (options["connect"], error))
            yield session.close()
            raise SystemExit(1) from None
        refusal = yield remote.authenticated
        if refusal is not None:
            output.error("the server did not accept the token in %s: %s" % (options["auth-token-file"], refusal))
            remote.input_ended()  # the server closes the connection: that is no news
            remote.release_connection()
            yield connector.stopService()
            yield session.close()
            raise SystemExit(1)
        shell = CallCenterShell(remote.send, output)
        if session.completes:
            ask_for_completions(remote, shell)
        yield session.attach(shell)
        yield remote.input_ended()
        remote.release_connection()
        yield connector.stopService()
        yield session.close()
        if remote.lost_replies:
            raise SystemExit(1)

    task.react(run)
