namespace SineGrpc.Client.Masks;

/// <summary>An RGB colour.</summary>
internal readonly record struct Rgb(byte R, byte G, byte B);

/// <summary>
/// The palette of DAVIS index masks: the PASCAL VOC colour map, where the bits of index i are spread
/// over r, g and b from the most significant bit down (0 black, 1 dark red, 2 dark green, 3 olive, ...).
/// </summary>
internal static class DavisPalette
{
    public static IReadOnlyList<Rgb> Colors { get; } = Build();

    private static Rgb[] Build()
    {
        var colors = new Rgb[256];
        for (var i = 0; i < 256; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (var j = 0; j < 8; j++)
            {
                // Bits 0, 1 and 2 of c go to r, g and b at bit (7 - j); then the next three bits of i.
                r |= (c & 1) << (7 - j);
                g |= ((c >> 1) & 1) << (7 - j);
                b |= ((c >> 2) & 1) << (7 - j);
                c >>= 3;
            }
            colors[i] = new Rgb((byte)r, (byte)g, (byte)b);
        }
        return colors;
    }
}
