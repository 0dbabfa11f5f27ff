using Microsoft.Extensions.AI;
using RagTune.Evaluation.Experiments;
using RagTune.FineTuning.Training;
using RagTune.Hosting.Middleware;
using RagTune.Hosting.Models;

namespace RagTune.Hosting.Compare;

/// <summary>
/// A remote OpenAI-compatible base model: it answers the closed-book and RAG arms; the trained arms report why they
/// cannot run (adapters are trained on RagTune's own engine), and perplexity is not measurable through a chat API.
/// </summary>
internal sealed class RemoteArmModels(Uri endpoint, string model, string? apiKey, ClientMiddlewareOptions? clients = null) : IArmModels
{
    // Opened like every other chat model (ChatModels), so a URL and a key mean what they mean to chat, ask and serve.
    private readonly IChatClient _base = ClientMiddleware.Chat(ChatModels.Create(new ChatModelSettings { Remote = endpoint.ToString(), RemoteModel = model, ApiKey = apiKey }),
        (clients ?? new ClientMiddlewareOptions()) with { CacheKey = ["remote", endpoint.ToString(), model] });

    public string Description => $"{model} at {endpoint}";

    public IChatClient Base => _base;

    public string? CannotTrainReason =>
        $"the base model is remote ({endpoint}); RagTune trains adapters on its own engine only. Give 'model.path' (a local model file) to run the trained arms.";

    public TrainingRun Train(ArmTraining request, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken) =>
        throw new NotSupportedException(CannotTrainReason);

    public IChatClient WithAdapter(string adapterDir) => throw new NotSupportedException(CannotTrainReason);

    public double? Perplexity(string? adapterDir, string text) => null;

    public void Dispose() => _base.Dispose();
}
