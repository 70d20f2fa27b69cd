using System.Text;

namespace SineGrpc.Client.Tests.Support;

/// <summary>
/// A pycocotools-compatible RLE encoder (maskApi.c rleEncode + rleToString), for round trips and for
/// the fake server. Kept in the tests: the client itself only ever decodes.
/// </summary>
internal static class TestRleEncoder
{
    /// <summary>Run lengths of a row-major binary mask, taken column-major, starting with 0s.</summary>
    public static List<uint> Runs(byte[] rowMajor, int width, int height)
    {
        var runs = new List<uint>();
        var current = 0;
        uint length = 0;
        for (var col = 0; col < width; col++)
        {
            for (var row = 0; row < height; row++)
            {
                var value = rowMajor[row * width + col] != 0 ? 1 : 0;
                if (value != current)
                {
                    runs.Add(length);
                    length = 0;
                    current = value;
                }
                length++;
            }
        }
        runs.Add(length);
        return runs;
    }

    public static string CountsString(IReadOnlyList<uint> runs)
    {
        var text = new StringBuilder();
        for (var i = 0; i < runs.Count; i++)
        {
            long x = runs[i];
            if (i > 2)
            {
                x -= runs[i - 2];
            }
            var more = true;
            while (more)
            {
                var c = (int)(x & 0x1F);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more)
                {
                    c |= 0x20;
                }
                text.Append((char)(c + 48));
            }
        }
        return text.ToString();
    }

    public static Sine.V1.Rle Encode(byte[] rowMajor, int width, int height) => new()
    {
        Width = (uint)width,
        Height = (uint)height,
        Counts = CountsString(Runs(rowMajor, width, height)),
    };
}
