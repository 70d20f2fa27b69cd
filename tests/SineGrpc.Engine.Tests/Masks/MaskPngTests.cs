using System.Buffers.Binary;
using System.IO.Compression;
using OpenCvSharp;
using SineGrpc.Engine.Masks;

namespace SineGrpc.Engine.Tests.Masks;

public class MaskPngTests
{
    private const long Unlimited = long.MaxValue;

    [Fact]
    public void Binary_mask_round_trips_as_0_and_255()
    {
        byte[] mask = [0, 1, 7, 0, 0, 255];
        var png = MaskPng.EncodeBinary(mask, 2, 3);
        Assert.Equal(8, png[24]); // IHDR bit depth
        Assert.Equal(0, png[25]); // colour type gray

        var map = MaskPng.Decode(png, Unlimited);
        Assert.Equal((3, 2), (map.Width, map.Height));
        Assert.Equal([0, 255, 255, 0, 0, 255], map.Values);
    }

    [Fact]
    public void Small_ids_make_an_8_bit_png()
    {
        ushort[] ids = [0, 1, 2, 255, 3, 0];
        var png = MaskPng.EncodeIndex(ids, 3, 2);
        Assert.Equal(8, png[24]);
        var map = MaskPng.Decode(png, Unlimited);
        Assert.Equal((2, 3), (map.Width, map.Height));
        Assert.Equal(ids, map.Values);
    }

    [Fact]
    public void Large_ids_make_a_16_bit_png_that_opencv_reads_alike()
    {
        var ids = new ushort[17 * 9];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = (ushort)(i * 431 % 65536);
        ids[5] = 65535;
        var png = MaskPng.EncodeIndex(ids, 9, 17);
        Assert.Equal(16, png[24]);

        Assert.Equal(ids, MaskPng.Decode(png, Unlimited).Values);

        // An independent reader agrees: the file is a valid PNG, values big-endian.
        using var mat = Cv2.ImDecode(png, ImreadModes.Unchanged);
        Assert.Equal(MatType.CV_16UC1, mat.Type());
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 17; x++)
                Assert.Equal(ids[y * 17 + x], mat.At<ushort>(y, x));
    }

    // A hand-built 2-bit palette PNG, 5x2, with palette indices
    //   row 0: 0 1 2 3 1   packed MSB first, 4 per byte: 00 01 10 11 | 01 00 00 00 = 0x1B 0x40
    //   row 1: 3 3 0 2 2                               11 11 00 10 | 10 00 00 00 = 0xF2 0x80
    // Row 0 uses filter 0 (None): bytes 0x1B 0x40.
    // Row 1 uses filter 2 (Up): stored = raw - above (mod 256):
    //   0xF2 - 0x1B = 0xD7, 0x80 - 0x40 = 0x40.
    // The palette's colours are deliberately not the indices: only indices must come back.
    [Fact]
    public void Palette_png_decodes_to_its_indices()
    {
        byte[] raw =
        [
            0, 0x1B, 0x40,
            2, 0xD7, 0x40,
        ];
        var png = BuildPng(width: 5, height: 2, bitDepth: 2, colorType: 3, raw,
            palette: [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]);
        var map = MaskPng.Decode(png, Unlimited);
        Assert.Equal((5, 2), (map.Width, map.Height));
        Assert.Equal([0, 1, 2, 3, 1, 3, 3, 0, 2, 2], map.Values);
    }

    // 8-bit palette, 4x2, with filters 1 (Sub) and 4 (Paeth), bytes-per-pixel 1:
    //   row 0 values 5 7 7 1, Sub stores v[i] - v[i-1]: 5, 2, 0, -6 = 250
    //   row 1 values 5 8 1 1, Paeth predictor per pixel (a = left, b = up, c = up-left):
    //     x=0: a=0 b=5 c=0: p=5, pa=5 pb=0 pc=5 -> b=5; 5-5 = 0
    //     x=1: a=5 b=7 c=5: p=7, pa=2 pb=0 pc=2 -> b=7; 8-7 = 1
    //     x=2: a=8 b=7 c=7: p=8, pa=0 pb=1 pc=1 -> a=8; 1-8 = -7 = 249
    //     x=3: a=1 b=1 c=7: p=-5, pa=6 pb=6 pc=12 -> a=1; 1-1 = 0
    [Fact]
    public void Sub_and_paeth_filters_are_undone()
    {
        byte[] raw =
        [
            1, 5, 2, 0, 250,
            4, 0, 1, 249, 0,
        ];
        var png = BuildPng(width: 4, height: 2, bitDepth: 8, colorType: 3, raw, palette: new byte[3 * 9]);
        Assert.Equal([5, 7, 7, 1, 5, 8, 1, 1], MaskPng.Decode(png, Unlimited).Values);
    }

    // 1-bit gray, 10x1: 1 0 1 1 0 0 0 0 | 1 1 -> 0xB0, 0xC0.
    [Fact]
    public void One_bit_gray_gives_raw_0_1_values()
    {
        var png = BuildPng(width: 10, height: 1, bitDepth: 1, colorType: 0, [0, 0xB0, 0xC0]);
        Assert.Equal([1, 0, 1, 1, 0, 0, 0, 0, 1, 1], MaskPng.Decode(png, Unlimited).Values);
    }

    [Fact]
    public void Opencv_encoded_gray_png_with_real_filters_decodes_exactly()
    {
        // A smooth gradient plus texture: libpng's adaptive filtering picks several filter types.
        using var gray = new Mat(37, 53, MatType.CV_8UC1);
        for (int y = 0; y < 37; y++)
            for (int x = 0; x < 53; x++)
                gray.Set(y, x, (byte)((x * 3 + y * 5 + (x * y) % 7) & 0xFF));
        Cv2.ImEncode(".png", gray, out var png);
        var map = MaskPng.Decode(png, Unlimited);
        for (int y = 0; y < 37; y++)
            for (int x = 0; x < 53; x++)
                Assert.Equal(gray.At<byte>(y, x), map.Values[y * 53 + x]);
    }

    [Fact]
    public void Colour_png_reads_as_binary()
    {
        using var bgr = new Mat(2, 3, MatType.CV_8UC3, Scalar.All(0));
        bgr.Set(0, 1, new Vec3b(0, 0, 200));   // red
        bgr.Set(1, 2, new Vec3b(1, 0, 0));     // barely blue
        Cv2.ImEncode(".png", bgr, out var png);
        Assert.Equal([0, 1, 0, 0, 0, 1], MaskPng.Decode(png, Unlimited).Values);

        using var bgra = new Mat(1, 2, MatType.CV_8UC4, new Scalar(0, 0, 0, 255)); // opaque black
        bgra.Set(0, 1, new Vec4b(0, 9, 0, 0)); // transparent green
        Cv2.ImEncode(".png", bgra, out var png4);
        Assert.Equal([0, 1], MaskPng.Decode(png4, Unlimited).Values);
    }

    [Fact]
    public void Pixel_limit_is_checked_before_inflating()
    {
        // A 100000x100000 header followed by image data that is not even zlib: the limit must
        // fire first, or we would see a zlib error (or try to allocate 10 GB).
        var png = BuildPngFromCompressed(100_000, 100_000, 8, 0, [1, 2, 3, 4, 5]);
        var e = Assert.Throws<InvalidInputException>(() => MaskPng.Decode(png, 4096 * 4096));
        Assert.Equal("mask PNG is 100000x100000 = 10000000000 pixels, over the limit of 16777216", e.Message);
    }

    [Fact]
    public void Size_is_read_from_the_header_without_touching_the_image_data()
    {
        // Image data that is not zlib, and no IEND: only the IHDR is read.
        var png = BuildPngFromCompressed(3840, 2160, 8, 3, [1, 2, 3, 4, 5], palette: new byte[3]);
        Assert.Equal((3840, 2160), MaskPng.ReadSize(png.AsSpan(0, 8 + PngChunks.Size(13))));
        Assert.Equal((3840, 2160), MaskPng.ReadSize(png));
        Assert.Contains("not valid zlib data", Assert.Throws<InvalidInputException>(() => MaskPng.Decode(png, Unlimited)).Message);

        // The header is checked as Decode checks it.
        Assert.Contains("not a PNG", Assert.Throws<InvalidInputException>(() => MaskPng.ReadSize("GIF89a.........."u8)).Message);
        var corrupt = (byte[])png.Clone();
        corrupt[20] ^= 0x55; // inside IHDR's data: its CRC no longer matches
        Assert.Contains("CRC", Assert.Throws<InvalidInputException>(() => MaskPng.ReadSize(corrupt)).Message);
        var interlaced = BuildPngFromCompressed(2, 2, 8, 0, [1, 2, 3], interlace: 1);
        Assert.Contains("interlaced", Assert.Throws<InvalidInputException>(() => MaskPng.ReadSize(interlaced)).Message);
    }

    [Fact]
    public void Rejects_bad_pngs()
    {
        Assert.Contains("not a PNG", Assert.Throws<InvalidInputException>(() => MaskPng.Decode("GIF89a.........."u8, Unlimited)).Message);

        var interlaced = BuildPng(2, 2, 8, 0, [0, 1, 2, 0, 3, 4], interlace: 1);
        Assert.Contains("interlaced", Assert.Throws<InvalidInputException>(() => MaskPng.Decode(interlaced, Unlimited)).Message);

        var good = MaskPng.EncodeBinary([1, 0, 0, 1], 2, 2);
        var corrupt = (byte[])good.Clone();
        corrupt[^20] ^= 0x55; // inside IDAT: its CRC no longer matches
        Assert.Contains("CRC", Assert.Throws<InvalidInputException>(() => MaskPng.Decode(corrupt, Unlimited)).Message);

        Assert.Contains("truncated", Assert.Throws<InvalidInputException>(() => MaskPng.Decode(good.AsSpan(0, good.Length - 20), Unlimited)).Message);

        // Too little image data for the declared size.
        var short_ = BuildPng(4, 4, 8, 0, [0, 1, 2, 3, 4]);
        Assert.Contains("truncated", Assert.Throws<InvalidInputException>(() => MaskPng.Decode(short_, Unlimited)).Message);

        var badFilter = BuildPng(1, 1, 8, 0, [9, 1]);
        Assert.Contains("filter type 9", Assert.Throws<InvalidInputException>(() => MaskPng.Decode(badFilter, Unlimited)).Message);
    }

    [Fact]
    public void Crc_matches_the_png_specification_check_value()
    {
        // The standard CRC-32 check value: crc32("123456789") = 0xCBF43926.
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
    }

    // ---- building PNGs by hand with the same chunk writer the encoder uses ----

    private static byte[] BuildPng(int width, int height, int bitDepth, int colorType, byte[] filteredRows, byte[]? palette = null, int interlace = 0)
    {
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(filteredRows);
        return BuildPngFromCompressed(width, height, bitDepth, colorType, compressed.ToArray(), palette, interlace);
    }

    private static byte[] BuildPngFromCompressed(int width, int height, int bitDepth, int colorType, byte[] idat, byte[]? palette = null, int interlace = 0)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colorType;
        ihdr[12] = (byte)interlace;

        var png = new byte[8 + PngChunks.Size(13) + (palette is null ? 0 : PngChunks.Size(palette.Length)) + PngChunks.Size(idat.Length) + PngChunks.Size(0)];
        PngChunks.Signature.CopyTo(png);
        int at = 8;
        at += PngChunks.Write(png.AsSpan(at), "IHDR", ihdr);
        if (palette is not null)
            at += PngChunks.Write(png.AsSpan(at), "PLTE", palette);
        at += PngChunks.Write(png.AsSpan(at), "IDAT", idat);
        PngChunks.Write(png.AsSpan(at), "IEND", []);
        return png;
    }
}
