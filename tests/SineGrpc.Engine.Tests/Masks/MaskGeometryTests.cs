using SineGrpc.Engine.Masks;

namespace SineGrpc.Engine.Tests.Masks;

public class MaskGeometryTests
{
    [Fact]
    public void Box_and_area_of_a_hand_drawn_mask()
    {
        // 4x6, set pixels at (x=2,y=1), (x=4,y=1), (x=1,y=2), (x=3,y=2) with value 9:
        // box x 1..4, y 1..2 -> (1, 1, 4, 2), area 4.
        byte[] mask =
        [
            0, 0, 0, 0, 0, 0,
            0, 0, 1, 0, 1, 0,
            0, 1, 0, 9, 0, 0,
            0, 0, 0, 0, 0, 0,
        ];
        Assert.Equal((1, 1, 4, 2, 4L), MaskGeometry.BoxAndArea(mask, 4, 6));
    }

    [Fact]
    public void Empty_mask_has_an_all_zero_box()
    {
        Assert.Equal((0, 0, 0, 0, 0L), MaskGeometry.BoxAndArea(new byte[12], 3, 4));
    }

    [Fact]
    public void Full_mask_covers_the_image()
    {
        var mask = Enumerable.Repeat((byte)1, 12).ToArray();
        Assert.Equal((0, 0, 4, 3, 12L), MaskGeometry.BoxAndArea(mask, 3, 4));
    }
}
