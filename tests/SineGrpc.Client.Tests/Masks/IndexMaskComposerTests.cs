using SineGrpc.Client.Masks;

namespace SineGrpc.Client.Tests.Masks;

public class IndexMaskComposerTests
{
    private static BinaryMask Mask(params byte[] pixels) => new(2, 2, pixels);

    [Fact]
    public void Higher_score_wins_where_masks_overlap()
    {
        var composed = IndexMaskComposer.Compose(2, 2,
        [
            new ObjectLayer(1, 0.9f, Mask(1, 1, 0, 0)),
            new ObjectLayer(2, 0.4f, Mask(0, 1, 1, 0)),
        ]);

        Assert.Equal([1, 1, 2, 0], composed.Pixels);
    }

    [Fact]
    public void Order_of_objects_does_not_matter()
    {
        var composed = IndexMaskComposer.Compose(2, 2,
        [
            new ObjectLayer(2, 0.4f, Mask(0, 1, 1, 0)),
            new ObjectLayer(1, 0.9f, Mask(1, 1, 0, 0)),
        ]);

        Assert.Equal([1, 1, 2, 0], composed.Pixels);
    }

    [Fact]
    public void Ids_above_255_are_left_out()
    {
        var composed = IndexMaskComposer.Compose(2, 2, [new ObjectLayer(300, 1f, Mask(1, 1, 1, 1))]);

        Assert.All(composed.Pixels, p => Assert.Equal(0, p));
    }

    [Fact]
    public void Rejects_a_mask_of_another_size()
    {
        Assert.Throws<InvalidDataException>(() =>
            IndexMaskComposer.Compose(3, 2, [new ObjectLayer(1, 1f, Mask(1, 1, 1, 1))]));
    }
}
