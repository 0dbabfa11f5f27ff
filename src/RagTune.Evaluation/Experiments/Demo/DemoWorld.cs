using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RagTune.Evaluation.Experiments.Demo;

/// <summary>Demo sizes: the villages in the world and the questions asked per village.</summary>
public sealed record DemoWorldOptions(int Villages = 30, int FactsPerVillage = 2, int Paraphrases = 2, int Unanswerable = 36, ulong Seed = 20240601)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the setting out of range.</summary>
    public void Validate()
    {
        if (Villages < 4) throw new ArgumentException($"DemoWorldOptions.Villages must be at least 4 (got {Villages}).");
        if (FactsPerVillage is < 1 or > 5) throw new ArgumentException($"DemoWorldOptions.FactsPerVillage must be 1 to 5 (got {FactsPerVillage}).");
        if (Paraphrases is < 0 or > 2) throw new ArgumentException($"DemoWorldOptions.Paraphrases must be 0 to 2 (got {Paraphrases}).");
        if (Unanswerable < 0) throw new ArgumentException($"DemoWorldOptions.Unanswerable must be zero or more (got {Unanswerable}).");
    }
}

/// <summary>
/// The demo's knowledge world: fictional villages with made-up names, founders and rivers (so no model knows them
/// beforehand) and a trade, flag colour and festival month each, rendered as short Markdown documents in varied
/// layouts, with questions (one per fact, plus paraphrases) and unanswerable questions about villages that do not
/// exist. Everything follows from the seed: the same options always write the same files.
/// </summary>
public static class DemoWorld
{
    private static readonly string[] s_onsets = ["B", "D", "F", "G", "K", "L", "M", "N", "P", "R", "S", "T", "V", "Z", "Br", "Dr", "Gr", "Kr", "Tr", "Th", "Sh", "St"];
    private static readonly string[] s_vowels = ["a", "e", "i", "o", "u", "a", "o", "ai", "ea", "ou"];
    private static readonly string[] s_codas = ["n", "r", "l", "s", "m", "th", "nd", "rn", "sk", "x", "", ""];

    // Each attribute has its own kind of word, as people, rivers, goods, colours and months do in real text, and every
    // value is a word the model's vocabulary holds whole. A reader can then find the value in a passage by its kind
    // (one hop of attention), while closed book it can only guess among 12 to 1,600 values.
    private static readonly string[] s_givenNames = ["Alda", "Bram", "Cora", "Dain", "Edda", "Finn", "Greta", "Hale", "Ilsa", "Joss", "Kara", "Lorn", "Mira", "Nell", "Orin", "Pell",
        "Quin", "Rhea", "Sten", "Tova", "Ulf", "Vera", "Wynn", "Yara", "Zeke", "Ansel", "Berit", "Cato", "Dagny", "Elof", "Frida", "Gunn", "Hedda", "Ivar", "Jorun", "Kettil", "Liv", "Magna", "Njal", "Oda"];
    private static readonly string[] s_familyNames = ["Ashby", "Barrow", "Colde", "Dunmore", "Elwood", "Farrow", "Garth", "Holm", "Ingle", "Jarrow", "Kestrel", "Lund", "Marsh", "Norby", "Oakes", "Penrose",
        "Quarry", "Rook", "Sallow", "Thorne", "Underhill", "Vane", "Wick", "Yew", "Alder", "Birch", "Crane", "Dale", "Fenn", "Gale", "Hearth", "Ives", "Kell", "Lark", "Moss", "Nook", "Pike", "Reed", "Stone", "Thatch"];
    private static readonly string[] s_rivers = ["Osk", "Tarn", "Wend", "Ulla", "Rime", "Selva", "Durna", "Marra", "Olla", "Tisa", "Vena", "Aska", "Brenna", "Calla", "Doria", "Ebba", "Frey", "Glenna", "Hessa", "Isla",
        "Jura", "Kolva", "Lira", "Mosa", "Neva", "Orla", "Peri", "Runa", "Sava", "Tolla", "Usk", "Varna", "Wyla", "Ysra", "Zola", "Amra", "Bissa", "Corra", "Dee", "Elna"];
    private static readonly string[] s_trades = ["copper", "wool", "honey", "salt", "glass", "amber", "cheese", "timber", "pottery", "silk", "tin", "barley", "iron", "linen", "wine",
        "rope", "leather", "pearls", "spices", "oats", "flax", "ivory", "marble", "paper", "soap", "candles", "apples", "herring", "slate", "furs"];
    private static readonly string[] s_colours = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black", "grey", "brown", "pink", "teal"];
    private static readonly string[] s_months = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames.Where(m => m.Length > 0).ToArray();

    /// <summary>Every value word of every attribute (for vocabularies and the check that made-up names are not among them).</summary>
    public static IEnumerable<string> ValueWords => s_givenNames.Concat(s_familyNames).Concat(s_rivers).Concat(s_trades).Concat(s_colours).Concat(s_months);

    /// <summary>Bumped whenever the generator's output changes, so models pretrained on its text are rebuilt.</summary>
    public const int GeneratorVersion = 2;

    /// <summary>One village of the world and its facts.</summary>
    /// <param name="Name">The village's name.</param>
    /// <param name="Founder">Who founded it.</param>
    /// <param name="River">The river it lies on.</param>
    /// <param name="Trade">What it trades in.</param>
    /// <param name="Colour">The colour of its flag.</param>
    /// <param name="Month">The month of its festival.</param>
    public sealed record Village(string Name, string Founder, string River, string Trade, string Colour, string Month);

    internal sealed record Attribute(string Key, Func<Village, string> Value, string[] Questions);

    /// <summary>A generated world before it is written: villages, questions, and every name it made up (unanswerable villages included).</summary>
    public sealed record Generated(List<Village> Villages, List<ExperimentQuestion> Questions, Dictionary<string, string> ParaphraseOf, IReadOnlySet<string> Names);

    /// <summary>The attributes with their question wordings (the first is the question, the others paraphrases).</summary>
    internal static IReadOnlyList<Attribute> Attributes => s_attributes;

    // The first wording of each attribute is the question; the others are its paraphrases.
    private static readonly Attribute[] s_attributes =
    [
        new("founder", v => v.Founder, ["Who founded {0}?", "Which person was the founder of {0}?", "By whom was the village of {0} founded?"]),
        new("river", v => v.River, ["Which river flows past {0}?", "On what river does {0} lie?", "What is the name of the river at {0}?"]),
        new("trade", v => v.Trade, ["What does {0} trade in?", "What is the main trade good of {0}?", "Which goods is {0} known for selling?"]),
        new("flag", v => v.Colour, ["What colour is the flag of {0}?", "Which colour does the flag of {0} have?", "The flag of {0} is what colour?"]),
        new("festival", v => v.Month, ["In which month is the festival of {0}?", "When does {0} hold its yearly festival?", "What month is the {0} festival in?"]),
    ];

    /// <summary>Writes <c>docs/*.md</c> and <c>questions.jsonl</c> under <paramref name="folder"/>; returns the questions.</summary>
    public static List<ExperimentQuestion> Write(string folder, DemoWorldOptions options)
    {
        var world = Generate(options);
        var villages = world.Villages;
        var docs = Path.Combine(folder, "docs");
        if (Directory.Exists(docs)) Directory.Delete(docs, recursive: true);
        Directory.CreateDirectory(docs);
        for (int i = 0; i < villages.Count; i++)
            File.WriteAllText(Path.Combine(docs, villages[i].Name.ToLowerInvariant() + ".md"), Render(villages[i], i % 3));
        QuestionFile.Write(Path.Combine(folder, "questions.jsonl"), world.Questions, world.ParaphraseOf);
        return world.Questions;
    }

    /// <summary>The world of <paramref name="options"/> in memory; <see cref="Write"/> writes exactly this.</summary>
    public static Generated Generate(DemoWorldOptions options)
    {
        options.Validate();
        var rng = new Random(unchecked((int)(options.Seed ^ (options.Seed >> 32))));
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var values = ValueWords.ToHashSet(StringComparer.OrdinalIgnoreCase);
        string NewName(int syllables)
        {
            string n;
            do n = Word(rng, syllables); while (values.Contains(n) || !names.Add(n));
            return n;
        }
        var villages = Enumerable.Range(0, options.Villages).Select(_ => new Village(NewName(2 + rng.Next(2)),
            $"{s_givenNames[rng.Next(s_givenNames.Length)]} {s_familyNames[rng.Next(s_familyNames.Length)]}", s_rivers[rng.Next(s_rivers.Length)],
            s_trades[rng.Next(s_trades.Length)], s_colours[rng.Next(s_colours.Length)], s_months[rng.Next(s_months.Length)])).ToList();

        var questions = new List<ExperimentQuestion>();
        var paraphraseOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in villages)
        {
            var attributes = s_attributes.OrderBy(_ => rng.Next()).Take(options.FactsPerVillage);
            foreach (var a in attributes)
            {
                var fact = $"{v.Name.ToLowerInvariant()}.{a.Key}";
                var doc = v.Name.ToLowerInvariant() + ".md";
                for (int p = 0; p <= options.Paraphrases; p++)
                {
                    var id = p == 0 ? fact : $"{fact}.p{p}";
                    questions.Add(new ExperimentQuestion(id, fact, string.Format(CultureInfo.InvariantCulture, a.Questions[p], v.Name), [a.Value(v)], p > 0, true, doc));
                    if (p > 0) paraphraseOf[id] = fact;
                }
            }
        }
        for (int i = 0; i < options.Unanswerable; i++)
        {
            var ghost = NewName(2 + rng.Next(2));
            var a = s_attributes[rng.Next(s_attributes.Length)];
            var id = $"none.{ghost.ToLowerInvariant()}.{a.Key}";
            questions.Add(new ExperimentQuestion(id, id, string.Format(CultureInfo.InvariantCulture, a.Questions[0], ghost), [], false, false));
        }
        return new Generated(villages, questions, paraphraseOf, names);
    }

    /// <summary>
    /// Three layouts so retrieval and reading are not one template: prose, a fact list, and a reordered sentence. Terse,
    /// because the RAG prompt (rules, two sources, question) must fit a tiny model's 512-token context.
    /// </summary>
    internal static string Render(Village v, int layout) => layout switch
    {
        0 => $"# {v.Name}\n\n{v.Name} lies on the river {v.River}. {v.Founder} founded it. It trades in {v.Trade}. Its flag is {v.Colour}. Its festival is in {v.Month}.\n",
        1 => $"# {v.Name}\n\n- Founder: {v.Founder}\n- River: {v.River}\n- Trade: {v.Trade}\n- Flag: {v.Colour}\n- Festival: {v.Month}\n",
        _ => $"# {v.Name}\n\n{v.Founder} founded {v.Name} by the river {v.River}. {v.Name} trades in {v.Trade}; its flag is {v.Colour}; its festival is in {v.Month}.\n",
    };

    /// <summary>A document holding only <paramref name="facts"/> of <paramref name="v"/>: as fact lines (layout 1) or one sentence each (0).</summary>
    internal static string RenderFragment(Village v, IReadOnlyList<Attribute> facts, int layout)
    {
        var sb = new StringBuilder($"# {v.Name}\n\n");
        foreach (var a in facts)
        {
            var value = a.Value(v);
            sb.Append(layout == 1
                ? $"- {char.ToUpperInvariant(a.Key[0])}{a.Key[1..]}: {value}\n"
                : a.Key switch
                {
                    "founder" => $"{value} founded {v.Name}. ",
                    "river" => $"{v.Name} lies on the river {value}. ",
                    "trade" => $"{v.Name} trades in {value}. ",
                    "flag" => $"The flag of {v.Name} is {value}. ",
                    _ => $"The festival of {v.Name} is in {value}. ",
                });
        }
        return sb.ToString().TrimEnd() + "\n";
    }

    private static string Word(Random rng, int syllables)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < syllables; i++)
        {
            var onset = s_onsets[rng.Next(s_onsets.Length)];
            sb.Append(i == 0 ? onset : onset.ToLowerInvariant()).Append(s_vowels[rng.Next(s_vowels.Length)]);
        }
        return sb.Append(s_codas[rng.Next(s_codas.Length)]).ToString();
    }

    /// <summary>
    /// The demo's spec, sized for a tiny model on two cores: short prompts (the top source only: BM25 finds each
    /// question's village first, and choosing between two passages by a made-up name is what a model this small
    /// cannot learn in minutes), short answers, few training steps; RAFT examples then show one passage too. <paramref name="quick"/> shrinks training and the experiments further (for tests).
    /// </summary>
    public static string Spec(string modelPath, bool quick, int threads, string? embedModel = null) =>
        $$"""
        # Written by `ragtune demo`; run it again with: ragtune compare --spec experiment.yaml
        name: demo
        documents:
          paths: [world/docs]
        questions:
          file: world/questions.jsonl
          test_share: 0.3
        model:
          path: {{JsonSerializer.Serialize(modelPath)}}
          threads: {{threads}}
          max_tokens: {{(quick ? 12 : 24)}}
        fine_tuning:
          rank: 8
          alpha: 16
          steps: {{(quick ? 6 : 40)}}
          lr: 0.003
          seq_len: 480
          batch: 4
          grad_accum: 1
          documents_as_text: true
          paraphrases: true
        raft:
          gold_share: 0.8
          distractors: 0
          answer: short
        retrieval:
          top_k: 1
          mode: {{(embedModel == null ? "bm25" : "hybrid\n  embed_model: " + JsonSerializer.Serialize(embedModel))}}
          chunk_tokens: 96
          overlap: 0
          prompt: compact
        constraints:
          latency_budget_ms: 2000
          updates_per_month: 4
          citations_required: true
          compute_price_per_hour: 0.10
        experiments:
          freshness:
            share: 0.3
          data_efficiency:
            fractions: {{(quick ? "[1.0]" : "[0.25, 1.0]")}}
            paraphrases: {{(quick ? "with" : "both")}}
          forgetting: true
        seed: 42
        notes:
          - "The published pattern to compare with: Ovadia et al. 2023 (arXiv 2312.05934; Mistral-7B, knowledge it had not seen) measured base 0.48, RAG 0.88, fine-tuned 0.50, fine-tuned with paraphrases 0.59, fine-tuned + RAG 0.81-0.83 accuracy; RAFT (Zhang et al. 2024, arXiv 2403.10131) beats fine-tuned + RAG when distractor passages are shown."
          - "This demo's model is RagTune's own: 0.5M parameters pretrained on our engine in three stages (a copy drill, a lookup drill, then reading in these prompts, on other generated worlds: no test fact), with a canon layer before each attention (docs/compare.md). It reads a shown passage but is too small to tell a made-up village name from another; questions about villages that do not exist are stopped before the model, because the best passage holds too little of the question's IDF weight in the collection (the unknown name carries most of it). The spec shows a single source (top_k 1), and RAFT is trained without distractors."
        """;
}
