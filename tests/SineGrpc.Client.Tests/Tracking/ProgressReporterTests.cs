using SineGrpc.Client.Tracking;

namespace SineGrpc.Client.Tests.Tracking;

public class ProgressReporterTests
{
    [Fact]
    public void Status_shows_frames_percent_and_rates()
    {
        Assert.Equal("40/80 frames (50%)  21.3 fps (average 19.8)", ProgressReporter.FormatStatus(40, 80, 21.26, 19.84));
    }

    [Fact]
    public void Status_without_a_known_total()
    {
        Assert.Equal("40 frames  2.0 fps (average 1.0)", ProgressReporter.FormatStatus(40, null, 2, 1));
    }
}
