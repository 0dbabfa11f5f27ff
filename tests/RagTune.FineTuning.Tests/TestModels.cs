using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests;

/// <summary>Shared models for the fine-tuning tests: stories260K (real SentencePiece vocabulary, 512 tokens).</summary>
internal static class TestModels
{
    public static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    private static readonly Lazy<LocalModel> s_stories = new(() => LocalModel.Load(Stories));

    /// <summary>stories260K loaded once per test process (read-only; never disposed while tests run).</summary>
    public static LocalModel StoriesModel => s_stories.Value;
}
