using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

/// <summary>How SINE bundles score the masks they bring into memory.</summary>
public class TokenTrackerMaskTests
{
    [Fact]
    public void Mask_score_is_the_mean_sigmoid_inside_over_area_plus_1e_6()
    {
        float[] logits = [2f, -1f, 0f, 3f];
        var binary = new byte[4];
        var score = TokenTracker.MeanForeground(logits, binary);
        Assert.Equal(new byte[] { 1, 0, 0, 1 }, binary);
        var expected = (1 / (1 + Math.Exp(-2)) + 1 / (1 + Math.Exp(-3))) / (2 + 1e-6);
        Assert.Equal(expected, score, 6);
        Assert.Equal(0f, TokenTracker.MeanForeground([-1f, 0f], new byte[2]));
    }
}
