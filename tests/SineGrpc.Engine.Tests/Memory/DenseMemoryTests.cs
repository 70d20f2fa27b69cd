using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tests.Memory;

public sealed class DenseMemoryTests
{
    // One channel, a 1x2 grid: features are 2 floats, labels are (objects + 1) x 2.
    private static DenseMemory Create(MemoryPolicy? policy = null) => new(1, 1, 2, policy ?? MemoryPolicy.Default);

    [Fact]
    public void New_objects_get_a_zero_channel_in_every_stored_frame()
    {
        using var memory = Create();
        memory.AddObjects([5]);
        memory.Anchor([1f, 1f], [0f, 1f, /* obj 5 */ 1f, 0f], [5], 0);
        memory.AddObjects([2]);

        Assert.Equal([2, 5], memory.ObjectIds);
        Assert.Equal(2, memory.ChannelOf(5));
        var (features, labels) = Copy(memory);
        Assert.Equal([1f, 1f], features);
        Assert.Equal([0f, 1f, /* obj 2 */ 0f, 0f, /* obj 5 */ 1f, 0f], labels);
    }

    [Fact]
    public void Reanchoring_moves_the_old_anchor_mass_to_background_and_drops_empty_anchors()
    {
        using var memory = Create();
        memory.AddObjects([1, 2]);
        memory.Anchor([1f, 1f], [0f, 0f, 1f, 0f, 0f, 1f], [1, 2], 0);     // frame 0 anchors 1 and 2
        memory.Anchor([2f, 2f], [0f, 1f, 1f, 0f, 0f, 0f], [1], 5);        // object 1 re-anchored on frame 5
        Assert.Equal([0, 5], memory.Frames);
        var (_, labels) = Copy(memory);
        // Frame 0: object 1's mass is background now; object 2 untouched.
        Assert.Equal([1f, 0f, 0f, 0f, 0f, 1f], labels[..6]);

        memory.Anchor([3f, 3f], [0f, 1f, 0f, 0f, 1f, 0f], [2], 9);        // object 2 re-anchored: frame 0 anchors nothing
        Assert.Equal([5, 9], memory.Frames);
    }

    [Fact]
    public void Predicted_frames_are_kept_by_the_policy_and_removal_drops_a_channel()
    {
        using var memory = Create(new MemoryPolicy(Capacity: 3));
        memory.AddObjects([1]);
        memory.Anchor([0f, 0f], [0f, 1f, 1f, 0f], [1], 0);
        memory.Remember([1f, 1f], [0.5f, 0.5f, 0.5f, 0.5f], 0.9f, 1);
        memory.Remember([2f, 2f], [0.5f, 0.5f, 0.5f, 0.5f], 0.2f, 2);
        memory.Remember([3f, 3f], [0.5f, 0.5f, 0.5f, 0.5f], 0.8f, 3);   // evicts frame 2 (lowest)
        Assert.Equal([0, 1, 3], memory.Frames);

        Assert.True(memory.Remove(1));
        Assert.Equal(1, memory.LabelCount);
        var (_, labels) = Copy(memory);
        Assert.Equal([1f, 1f], labels[..2]);      // the object's mass went to background
        Assert.Empty(memory.ObjectIds);
    }

    // The decoder reads the features where they lie: a frame that enters takes the slot of
    // the one it evicts, a dropped anchor's slot is filled by the last frame, and the
    // labels are copied in the same order, so the decoder sees each frame's features with
    // its own labels.
    [Fact]
    public void Features_are_read_in_place_in_the_order_the_labels_are_copied()
    {
        using var memory = Create(new MemoryPolicy(Capacity: 3));
        memory.AddObjects([1, 2]);
        memory.Anchor([10f, 10f], Labels(10), [1], 10);
        memory.Remember([11f, 11f], Labels(11), 0.9f, 11);
        memory.Remember([12f, 12f], Labels(12), 0.2f, 12);
        Assert.Equal([10, 11, 12], memory.FramesInDecoderOrder);
        memory.Remember([13f, 13f], Labels(13), 0.8f, 13);           // evicts 12: takes its slot
        Assert.Equal([10, 11, 13], memory.FramesInDecoderOrder);
        memory.Remember([14f, 14f], Labels(14), 0.1f, 14);           // evicted on arrival: never stored
        Assert.Equal([10, 11, 13], memory.FramesInDecoderOrder);
        AssertInPlaceMatchesLabels(memory);

        memory.Anchor([20f, 20f], Labels(20), [2], 20);              // a second anchor: one slot more than the capacity
        Assert.Equal([10, 11, 13, 20], memory.FramesInDecoderOrder);
        AssertInPlaceMatchesLabels(memory);

        memory.Anchor([30f, 30f], Labels(30), [1], 30);              // object 1 re-anchored: frame 10's anchor goes
        Assert.Equal([20, 11, 13, 30], memory.FramesInDecoderOrder); // the last slot (frame 20) moved into its place
        Assert.Equal([20, 30, 11, 13], memory.Frames);
        AssertInPlaceMatchesLabels(memory);

        var since13 = new float[3 * memory.Channels * memory.Cells];
        memory.CopyFeaturesTo(since13, 13);
        Assert.Equal([20f, 20f, 13f, 13f, 30f, 30f], since13);       // decoder order, frames from 13 on
    }

    [Fact]
    public void Forgetting_drops_earlier_predicted_frames_keeps_anchors_and_keeps_slots_in_step()
    {
        using var memory = Create(new MemoryPolicy(Capacity: 4));
        memory.AddObjects([1, 2]);
        memory.Remember([11f, 11f], Labels(11), 0.9f, 11);
        memory.Anchor([12f, 12f], Labels(12), [2], 12);
        memory.Remember([13f, 13f], Labels(13), 0.8f, 13);
        memory.Remember([14f, 14f], Labels(14), 0.7f, 14);
        Assert.Equal([11, 12, 13, 14], memory.FramesInDecoderOrder);

        memory.ForgetBefore(14);
        Assert.Equal([12, 14], memory.Frames);
        AssertInPlaceMatchesLabels(memory);

        // The freed slots are used again, and the evictable part has its room back.
        memory.Remember([15f, 15f], Labels(15), 0.1f, 15);
        memory.Remember([16f, 16f], Labels(16), 0.1f, 16);
        Assert.Equal([12, 14, 15, 16], memory.Frames);
        AssertInPlaceMatchesLabels(memory);

        memory.ForgetBefore(int.MaxValue);
        Assert.Equal([12], memory.Frames);
        AssertInPlaceMatchesLabels(memory);
    }

    // Object 1's channel carries the frame number, so each copied label row names its frame.
    private static float[] Labels(int frame) => [0f, 0f, frame, frame, 0f, 0f];

    private static void AssertInPlaceMatchesLabels(DenseMemory memory)
    {
        using var features = memory.FeaturesAsOrtValue();
        Assert.Equal([memory.EntryCount, 1, 1, 2], features.GetTensorTypeAndShape().Shape);
        var (copied, labels) = Copy(memory);
        var inPlace = features.GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(copied, inPlace);
        for (var m = 0; m < memory.EntryCount; m++)
            Assert.Equal(labels[(m * memory.LabelCount + 1) * memory.Cells], inPlace[m * memory.Cells]);
    }

    private static (float[] Features, float[] Labels) Copy(DenseMemory memory)
    {
        var features = new float[memory.EntryCount * memory.Channels * memory.Cells];
        var labels = new float[memory.EntryCount * memory.LabelCount * memory.Cells];
        memory.CopyTo(features, labels);
        return (features, labels);
    }
}
