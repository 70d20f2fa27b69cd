using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

/// <summary>Instances from connected components, for models without an instance head.</summary>
public class ConnectedInstancesTests
{
    private const int Side = 120;

    // One object whose mask is a grid of 4x4 blobs, 6 pixels apart (so not connected), the
    // blob at grid cell k having confidence conf(k); plus a 1-pixel speck (under 16 pixels).
    private static FrameResult Blobs(int blobs, Func<int, float> conf, out float[] confidence)
    {
        var mask = PooledArray<byte>.Zeroed(Side * Side);
        confidence = new float[Side * Side];
        var perRow = Side / 6;
        for (var k = 0; k < blobs; k++)
        {
            var (top, left) = (k / perRow * 6, k % perRow * 6);
            for (var y = top; y < top + 4; y++)
            {
                for (var x = left; x < left + 4; x++)
                {
                    mask.Span[y * Side + x] = 1;
                    confidence[y * Side + x] = conf(k);
                }
            }
        }
        mask.Span[Side * Side - 1] = 1;
        confidence[Side * Side - 1] = 1f;
        var obj = new ObjectResult(7, 1f, mask, MaskStats.Of(mask.Span, Side, Side));
        return new FrameResult(Side, Side, [obj], null, new StageTimes());
    }

    private static ObjectConfidence PerObject(float[] confidence) => new(PooledArray<float>.CopyOf(confidence), confidence.Length, shared: false);

    [Fact]
    public void Components_become_instances_best_first_with_their_own_masks()
    {
        // Blob k has confidence 0.5 + k/100: the last blobs score best.
        using var frame = Blobs(10, k => 0.5f + k / 100f, out var confidence);
        var instances = Segmenter.ConnectedInstances(frame, [0.9f], PerObject(confidence), threshold: 0.5f, maxInstances: 3);
        try
        {
            Assert.Equal(3, instances.Count);
            Assert.All(instances, i => Assert.Equal(7, i.Label));
            Assert.Equal([0.9f * 0.59f, 0.9f * 0.58f, 0.9f * 0.57f], instances.Select(i => i.Score), new FloatTolerance(1e-6f));
            // The best is blob 9: row 0, column 9 of the grid, at (54, 0), 4x4.
            Assert.Equal(new MaskStats(54, 0, 4, 4, 16), instances[0].Stats);
            Assert.Equal(16, instances[0].Mask.Span.ToArray().Count(v => v == 1));
        }
        finally
        {
            instances.ForEach(i => i.Dispose());
        }
    }

    [Fact]
    public void The_threshold_and_the_minimum_area_drop_components()
    {
        // Blobs 0-4 score 0.4 (under 0.5); the speck scores 1 but has one pixel.
        using var frame = Blobs(10, k => k < 5 ? 0.4f : 0.8f, out var confidence);
        var instances = Segmenter.ConnectedInstances(frame, [1f], PerObject(confidence), threshold: 0.5f, maxInstances: 100);
        Assert.Equal(5, instances.Count);
        Assert.All(instances, i => Assert.Equal(0.8f, i.Score, 1e-6f));
        instances.ForEach(i => i.Dispose());
    }

    [Fact]
    public void No_more_than_100_instances_whatever_is_asked()
    {
        // 300 components: SINE keeps its 100 best candidates; so does this.
        using var frame = Blobs(300, k => 0.6f + k / 1000f, out var confidence);
        var instances = Segmenter.ConnectedInstances(frame, [1f], PerObject(confidence), threshold: 0.5f, maxInstances: int.MaxValue);
        Assert.Equal(Segmenter.InstanceCandidates, instances.Count);
        Assert.Equal(0.6f + 299 / 1000f, instances[0].Score, 1e-6f);
        Assert.Equal(0.6f + 200 / 1000f, instances[^1].Score, 1e-6f);
        instances.ForEach(i => i.Dispose());
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float value) => 0;
    }
}
