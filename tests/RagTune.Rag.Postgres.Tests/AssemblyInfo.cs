// One PostgreSQL connection at a time when the server is PGlite (see PgliteProcess.ConnectionString in RagTune.TestKit): the tests take turns.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
