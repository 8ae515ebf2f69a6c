// Package matgto is the Go client of matgto, a record/replay HTTP proxy for
// tests. A matgto server runs next to the code under test; the tests point
// their HTTP clients at its proxy and drive it over gRPC with this package:
// record a cassette against the real upstream once, then replay it, byte for
// byte, without the upstream.
//
//	c, err := matgto.Dial(ctx, "") // $MATGTO_SERVER, else 127.0.0.1:8889
//	defer c.Close()
//	tr, err := c.HTTPTransport(ctx) // proxy + the server's CA, if any
//	httpClient := &http.Client{Transport: tr}
//	_, err = c.UseCassette(ctx, "github/list-repos", matgto.ModeAuto)
//	... // requests through httpClient are recorded, or replayed
//	summary, err := c.StopRecording(ctx)
//
// The calls above act on the server's default session, which the shared
// proxy port serves. Many tests can share one server: [Client.OpenSession]
// opens a session of one's own (its own proxy listener, a lease renewed in
// the background) and [Session.Stop] ends it. In tests, [UseCassette] does
// that per test (t.Parallel() welcome), names the cassette after t.Name(),
// stops it in t.Cleanup and fails the test on a replay miss.
//
// Cassette options ([WithMatch], [WithRedact], [WithOnMiss], [WithRepeat],
// [WithOnExhausted], [WithStoreDecoded], [WithStoreAsSent], [WithLatency], [WithWSTiming], [WithWSSpeed],
// [WithStreamTiming], [WithStreamSpeed] and
// the escape hatch [WithOptions]) decide how requests match and what is
// stored. [Client.ListCassettes], [Client.GetCassette], [Client.PutCassette]
// and [Client.DeleteCassette] manage the cassettes of a (remote) server.
//
// Faults and latency test how the code under test copes with a slow or
// failing dependency, per session: [Session.AddFault] adds a rule such as
// Respond(503) for the FirstN(2) requests matching URL("/orders/.*"), or
// Delay, Hang, Reset, Bandwidth, possibly with a seeded Probability;
// [Session.ClearFaults] removes them. [WithLatency] replays with the
// recorded timing ([AsRecorded]) or a fixed delay ([FixedLatency]).
//
// Errors returned by the server are [*Error] values carrying the gRPC code;
// compare them with errors.Is against [ErrCassetteNotFound],
// [ErrInvalidArgument], [ErrNoCassette] and the other sentinels. A client
// refuses to talk to a server of another control-API generation with
// [ErrIncompatibleServer].
//
// A secured central server (TLS, mTLS, bearer tokens) is dialled with
// [WithToken], [WithTLSCA] and [WithClientCertificate], or with
// $MATGTO_TOKEN, $MATGTO_TLS_CA, $MATGTO_TLS_CERT and $MATGTO_TLS_KEY; a
// token outside its scope gives [ErrPermissionDenied], a wrong one
// [ErrUnauthenticated].
//
// The generated gRPC and cassette types live in the matgtov1 sub-package.
package matgto
