using RagTune.Hosting.Jobs;

namespace RagTune.Hosting.Tests.Jobs;

public sealed class JobTests
{
    private static Job NewJob() => new("compare-000000000001", "compare", "Compare x", null, (_, _) => Task.FromResult<object?>(null));

    [Fact]
    public void A_reported_loss_is_current_until_the_stage_changes()
    {
        var job = NewJob();
        job.Report("train ft", 1, 4, loss: 2.5, valLoss: 2.75);
        job.Report("train ft", 2, 4, loss: 2.25);
        Assert.Equal((2.25, 2.75), (job.Snapshot().Loss, job.Snapshot().ValLoss));
        job.Report("train ft", 4, 4, message: "4 steps");
        Assert.Equal(2.25, job.Snapshot().Loss);
        job.Report("answer ft", 0, 3);
        Assert.Equal((null, null), (job.Snapshot().Loss, job.Snapshot().ValLoss));
    }

    [Fact]
    public void A_job_with_a_curve_keeps_its_last_point_s_loss_across_stages()
    {
        var job = NewJob();
        job.AddPoint(new LossSample(1, 0, 1.5, 1.75, 1e-3));
        job.Report("train", 1, 2);
        job.Report("save", 0, 1);
        Assert.Equal((1.5, 1.75), (job.Snapshot().Loss, job.Snapshot().ValLoss));
    }
}
