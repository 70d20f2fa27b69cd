using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tests.Memory;

public sealed class MemoryPolicyTests
{
    private sealed record Entry(float Score, int FrameNumber) : IScoredEntry;

    [Fact]
    public void Linear_decay_matches_the_reference_table()
    {
        var policy = MemoryPolicy.Default;
        Assert.Equal(1f, policy.Decay(0));
        Assert.Equal(0.75f, policy.Decay(5), 6);
        Assert.Equal(0.05f, policy.Decay(19), 6);
        Assert.Equal(0f, policy.Decay(20));
        Assert.Equal(0f, policy.Decay(200));
        Assert.Equal(1f, (policy with { DecayRatio = 0 }).Decay(50));
        Assert.Equal(5, policy.RecentCapacity);
        Assert.Equal(6, (policy with { FixFirstFrame = false }).RecentCapacity);
    }

    // Worked example, capacity 6 with a fixed first frame (5 evictable slots), linear decay 20:
    // frames 1..5 hold scores 0.9, 0.5, 0.8, 0.7, 0.6.
    //  now 6, add 0.95: decayed f1 .9*.75=.675  f2 .5*.80=.40  f3 .8*.85=.68  f4 .7*.90=.63  f5 .6*.95=.57  f6 .95
    //                   -> f2 goes (lowest decayed score).
    //  now 7, add 0.30: f1 .9*.70=.63  f3 .8*.80=.64  f4 .7*.85=.595  f5 .6*.90=.54  f6 .95*.95=.9025  f7 .30
    //                   -> the new entry itself goes.
    //  now 30, add 0.10: every old entry is 20+ frames old, decayed 0; f30 has .10. Ties at 0 break
    //                   on the raw score: f5 (.6) goes.
    [Fact]
    public void Eviction_follows_the_worked_example()
    {
        var recent = new RecentEntries<Entry>(MemoryPolicy.Default);
        float[] scores = [0.9f, 0.5f, 0.8f, 0.7f, 0.6f];
        for (var f = 1; f <= 5; f++)
            Assert.Null(recent.Add(new Entry(scores[f - 1], f), f));

        Assert.Equal(2, recent.Add(new Entry(0.95f, 6), 6)!.FrameNumber);
        Assert.Equal([1, 3, 4, 5, 6], recent.Items.Select(e => e.FrameNumber));

        Assert.Equal(7, recent.Add(new Entry(0.3f, 7), 7)!.FrameNumber);
        Assert.Equal([1, 3, 4, 5, 6], recent.Items.Select(e => e.FrameNumber));

        Assert.Equal(5, recent.Add(new Entry(0.1f, 30), 30)!.FrameNumber);
        Assert.Equal([1, 3, 4, 6, 30], recent.Items.Select(e => e.FrameNumber));
    }

    [Fact]
    public void Policy_validation_names_the_problem()
    {
        Assert.Contains("between 1 and 16", Assert.Throws<InvalidInputException>(() => new MemoryPolicy(Capacity: 17).Validate(16)).Message);
        Assert.Contains("decay", Assert.Throws<InvalidInputException>(() => new MemoryPolicy(DecayRatio: -1).Validate(16)).Message);
        new MemoryPolicy(Capacity: 1, FixFirstFrame: true).Validate(16);
    }
}
