using SineGrpc.Client.Tracking;

namespace SineGrpc.Client.Tests.Tracking;

public class FramePacerTests
{
    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualClock : TimeProvider
    {
        public long Ticks { get; set; }

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Ticks;

        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    [Fact]
    public void Frame_k_is_due_k_over_the_rate_after_the_first()
    {
        var clock = new ManualClock { Ticks = 12345 };
        var pacer = new FramePacer(framesPerSecond: 4, clock);

        Assert.Equal(TimeSpan.Zero, pacer.DelayBefore(0));            // the clock starts here
        Assert.Equal(TimeSpan.FromMilliseconds(250), pacer.DelayBefore(1));
        clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(TimeSpan.FromMilliseconds(150), pacer.DelayBefore(1));
        Assert.Equal(TimeSpan.FromMilliseconds(900), pacer.DelayBefore(4));
    }

    [Fact]
    public void A_frame_already_due_goes_at_once()
    {
        var clock = new ManualClock();
        var pacer = new FramePacer(framesPerSecond: 10, clock);
        pacer.DelayBefore(0);
        clock.Advance(TimeSpan.FromSeconds(2));

        // Held back (or sent again on a new stream): frames 5 and 19 were due by now, frame 21 not quite.
        Assert.Equal(TimeSpan.Zero, pacer.DelayBefore(5));
        Assert.Equal(TimeSpan.Zero, pacer.DelayBefore(19));
        Assert.Equal(TimeSpan.FromMilliseconds(100), pacer.DelayBefore(21));
    }
}
