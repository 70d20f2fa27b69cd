using OpenCvSharp;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Masks;

namespace SineGrpc.Engine.Tests;

/// <summary>
/// Damaged client bytes, made by mutating valid files with a fixed seed: every one must
/// either decode to an image within the limit or be refused with <see cref="InvalidInputException"/>
/// (the service's INVALID_ARGUMENT). Any other exception would be an INTERNAL error, and a
/// crash in a native decoder would take the whole server, every client's stream with it,
/// down (the test host would die here).
/// </summary>
public class MutatedInputTests
{
    // Enough variety to reach the decoders' error paths in a few seconds;
    // SINE_FUZZ_ITERATIONS raises it for a longer search.
    private static readonly int Iterations =
        int.TryParse(Environment.GetEnvironmentVariable("SINE_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 1000;

    private const long MaxPixels = 1 << 20;

    public static TheoryData<string, int, int> Encodings => new()
    {
        { ".jpg", (int)ImwriteFlags.JpegQuality, 90 },
        { ".jpg", (int)ImwriteFlags.JpegProgressive, 1 },
        { ".png", (int)ImwriteFlags.PngCompression, 3 },
        { ".webp", (int)ImwriteFlags.WebPQuality, 80 },
        { ".webp", (int)ImwriteFlags.WebPQuality, 101 },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Damaged_images_decode_within_the_limit_or_are_refused(string extension, int flag, int value)
    {
        using var image = new Mat(48, 64, MatType.CV_8UC3);
        Cv2.Randu(image, Scalar.All(0), Scalar.All(255));
        Assert.True(Cv2.ImEncode(extension, image, out var valid, [flag, value]));
        var random = new Random(extension.Length * 1000 + value);

        var (decoded, refused) = DecodeMutations(i => Mutate(valid, random), bytes =>
        {
            using var mat = ImageDecoder.Decode(bytes, MaxPixels);
            Assert.Equal(MatType.CV_8UC3, mat.Type());
            Assert.True(mat.Width > 0 && mat.Height > 0 && (long)mat.Width * mat.Height <= MaxPixels,
                $"decoded to {mat.Width}x{mat.Height}");
        });
        // Both outcomes must occur, or the mutations missed the decoder (all refused by the
        // header check) or missed the data (all harmless).
        Assert.True(decoded > 0 && refused > 0, $"{extension}: {decoded} decoded, {refused} refused");
    }

    [Fact]
    public void Damaged_mask_pngs_decode_within_the_limit_or_are_refused()
    {
        var ids = new ushort[40 * 30];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = (ushort)(i % 7 == 0 ? 300 : i % 5);
        var sources = new[]
        {
            MaskPng.EncodeIndex(ids, 30, 40),
            MaskPng.EncodeBinary(ids.Select(v => (byte)(v > 2 ? 1 : 0)).ToArray(), 30, 40),
        };
        var random = new Random(17);

        var (decoded, refused) = DecodeMutations(i => Mutate(sources[i % sources.Length], random), bytes =>
        {
            var map = MaskPng.Decode(bytes, MaxPixels);
            Assert.Equal((long)map.Width * map.Height, map.Values.Length);
            Assert.True(map.Values.Length <= MaxPixels);
        });
        Assert.True(decoded > 0 && refused > 0, $"{decoded} decoded, {refused} refused");
    }

    [Fact]
    public void Damaged_rle_counts_decode_to_the_size_or_are_refused()
    {
        var mask = new byte[30 * 40];
        for (int i = 0; i < mask.Length; i++)
            mask[i] = (byte)((i / 40 - 15) * (i / 40 - 15) + (i % 40 - 20) * (i % 40 - 20) < 100 ? 1 : 0);
        var valid = System.Text.Encoding.ASCII.GetBytes(CocoRle.Encode(mask, 30, 40));
        var roundTrip = new byte[mask.Length];
        CocoRle.Decode(System.Text.Encoding.ASCII.GetString(valid), 30, 40, roundTrip);
        Assert.Equal(mask, roundTrip);
        var random = new Random(23);

        var (decoded, refused) = DecodeMutations(i => Mutate(valid, random), bytes =>
        {
            var destination = new byte[mask.Length];
            CocoRle.Decode(System.Text.Encoding.Latin1.GetString(bytes), 30, 40, destination);
            Assert.All(destination, v => Assert.True(v <= 1));
        });
        // Almost any damage changes the runs' sum, so nearly all are refused; some
        // (a run moved from one count to the next) still cover the mask and decode.
        Assert.True(refused > 0, $"{decoded} decoded, {refused} refused");
    }

    /// <summary>
    /// Decodes <see cref="Iterations"/> mutations, each of which must decode (and pass the
    /// decode's own checks) or be refused with <see cref="InvalidInputException"/>.
    /// </summary>
    private static (int Decoded, int Refused) DecodeMutations(Func<int, byte[]> mutation, Action<byte[]> decode)
    {
        int decoded = 0, refused = 0;
        for (int i = 0; i < Iterations; i++)
        {
            try
            {
                decode(mutation(i));
                decoded++;
            }
            catch (InvalidInputException)
            {
                refused++;
            }
        }
        return (decoded, refused);
    }

    /// <summary>One to three random damages: flipped bytes, a cut, an insertion, a deletion, a big-endian size field overwritten.</summary>
    private static byte[] Mutate(byte[] source, Random random)
    {
        var bytes = new List<byte>(source);
        for (int damages = random.Next(1, 4); damages > 0 && bytes.Count > 1; damages--)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 3:
                    bytes.InsertRange(at, Enumerable.Range(0, random.Next(1, 16)).Select(_ => (byte)random.Next(256)));
                    break;
                case 4:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 16), bytes.Count - at));
                    break;
                default:
                    // Headers keep sizes in their first bytes: hit them more often than chance would.
                    at = random.Next(Math.Min(bytes.Count, 48));
                    bytes[at] = (byte)(random.Next(2) == 0 ? 0 : 0xFF);
                    break;
            }
        }
        return bytes.ToArray();
    }
}
