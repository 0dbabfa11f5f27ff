// One PostgreSQL connection at a time when the server is PGlite (see PostgresServer.For): the tests take turns.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
