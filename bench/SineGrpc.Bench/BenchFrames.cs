using OpenCvSharp;

namespace SineGrpc.Bench;

/// <summary>The clip, held in memory: JPEG bytes as a client would send them, and a first-frame mask.</summary>
internal sealed record BenchFrames
{
    public required List<byte[]> Jpegs { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    /// <summary>Object 1 on frame 0: a centred ellipse (the clip has no annotations), as an 8-bit PNG.</summary>
    public required byte[] MaskPng { get; init; }
    public required byte[] Mask { get; init; }

    public static BenchFrames Load(string folder, int limit, int jpegQuality)
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
            (width, height) = (image.Width, image.Height);
            jpegs.Add(image.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, jpegQuality)));
        }
        using var mask = new Mat(height, width, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Ellipse(mask, new Point(width / 2, height / 2), new Size(width / 6, height / 5), 0, 0, 360, Scalar.All(255), -1);
        mask.GetArray(out byte[] pixels);
        return new BenchFrames
        {
            Jpegs = jpegs,
            Width = width,
            Height = height,
            MaskPng = mask.ImEncode(".png"),
            Mask = [.. pixels.Select(p => p == 0 ? (byte)0 : (byte)1)],
        };
    }
}
