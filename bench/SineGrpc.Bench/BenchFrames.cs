using OpenCvSharp;

namespace SineGrpc.Bench;

/// <summary>The clip, held in memory: JPEG bytes as a client would send them, and first-frame masks.</summary>
internal sealed record BenchFrames
{
    public required List<byte[]> Jpegs { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    /// <summary>
    /// Objects 1..K on frame 0, as 8-bit PNGs: ellipses side by side across the middle of
    /// the frame (the clip has no annotations).
    /// </summary>
    public required List<byte[]> ObjectMaskPngs { get; init; }
    /// <summary>Object 1's mask as 0/1 pixels (the raw pipeline tracks one object).</summary>
    public required byte[] Mask { get; init; }

    /// <param name="size">Resize every frame to this size (width, height) first, or keep the clip's.</param>
    public static BenchFrames Load(string folder, int limit, int jpegQuality, int objects = 1, (int Width, int Height)? size = null)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"the benchmark needs the clip in {folder} (../shared/data/sam2-bedroom/frames beside the repository)");
        var files = Directory.GetFiles(folder, "*.jpg").Order(StringComparer.Ordinal).Take(limit).ToList();
        if (files.Count == 0)
            throw new FileNotFoundException($"no .jpg frames in {folder}");
        // Re-encoded once, up front, at the quality a client would use: the client's
        // encoding time is not the service's and is kept out of the measurement.
        var jpegs = new List<byte[]>();
        int width = 0, height = 0;
        foreach (var file in files)
        {
            using var image = Cv2.ImRead(file, ImreadModes.Color);
            if (size is var (w, h))
                Cv2.Resize(image, image, new Size(w, h), interpolation: InterpolationFlags.Area);
            (width, height) = (image.Width, image.Height);
            jpegs.Add(image.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, jpegQuality)));
        }
        var masks = Enumerable.Range(0, objects).Select(i => Ellipse(width, height, i, objects)).ToList();
        try
        {
            masks[0].GetArray(out byte[] pixels);
            return new BenchFrames
            {
                Jpegs = jpegs,
                Width = width,
                Height = height,
                ObjectMaskPngs = [.. masks.Select(m => m.ImEncode(".png"))],
                Mask = [.. pixels.Select(p => p == 0 ? (byte)0 : (byte)1)],
            };
        }
        finally
        {
            masks.ForEach(m => m.Dispose());
        }
    }

    // The i-th of n ellipses spread evenly across the frame; one alone is centred.
    private static Mat Ellipse(int width, int height, int i, int n)
    {
        var mask = new Mat(height, width, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Ellipse(mask, new Point((i + 1) * width / (n + 1), height / 2), new Size(width / (3 * (n + 1)), height / 5), 0, 0, 360, Scalar.All(255), -1);
        return mask;
    }
}
