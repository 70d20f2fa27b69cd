using OpenCvSharp;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;

namespace SineGrpc.Client.Tracking;

/// <summary>Writes a preview video: each object's mask blended in its palette colour over the frame.</summary>
internal sealed class OverlayWriter(string path, double framesPerSecond) : IDisposable
{
    private const double MaskOpacity = 0.5;

    /// <summary>
    /// The containers OpenCV's FFmpeg writer picks from the extension that take the mp4v
    /// (MPEG-4 part 2) stream written here; others (.webm, .gif, no extension) fail to open.
    /// </summary>
    public static IReadOnlyList<string> Extensions { get; } = [".mp4", ".m4v", ".mov", ".avi", ".mkv"];

    public static bool Supports(string path) => Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Checks, before anything is streamed, that the video can be written: its folder exists or
    /// is created, and the file can be created (an empty one is created and deleted; an
    /// existing one, which the run will replace, is only opened for writing).
    /// </summary>
    public static void CheckCanCreate(string path)
    {
        try
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }
            if (File.Exists(path))
            {
                using (File.Open(path, FileMode.Open, FileAccess.Write))
                {
                }
                return;
            }
            using (File.Open(path, FileMode.CreateNew, FileAccess.Write))
            {
            }
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--overlay {path}: cannot create the file: {ex.Message}");
        }
    }

    private VideoWriter? _writer;
    private Size _size;

    /// <summary>Draws the mask (if any; failed frames have none) into <paramref name="frame"/> and appends it.</summary>
    public void Write(Mat frame, IndexMask? mask)
    {
        _writer ??= Open(frame.Size());
        if (frame.Size() != _size)
        {
            // A video has one frame size; frames of other sizes (a mixed folder) are scaled to it.
            Cv2.Resize(frame, frame, _size);
        }
        if (mask is not null)
        {
            Blend(frame, mask);
        }
        _writer.Write(frame);
    }

    public void Dispose() => _writer?.Dispose();

    private VideoWriter Open(Size size)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        var writer = new VideoWriter(path, FourCC.FromString("mp4v"), framesPerSecond, size);
        if (!writer.IsOpened())
        {
            writer.Dispose();
            throw new CliException($"cannot write overlay video {path} (OpenCV could not open an mp4v writer for it)");
        }
        _size = size;
        return writer;
    }

    private static unsafe void Blend(Mat frame, IndexMask mask)
    {
        var ids = mask.Pixels;
        if (mask.Width != frame.Cols || mask.Height != frame.Rows)
        {
            // Nearest neighbour keeps ids intact.
            using var small = Mat.FromPixelData(mask.Height, mask.Width, MatType.CV_8UC1, mask.Pixels);
            using var resized = new Mat();
            Cv2.Resize(small, resized, frame.Size(), interpolation: InterpolationFlags.Nearest);
            ids = resized.AsSpan<byte>().ToArray();
        }

        var palette = DavisPalette.Colors;
        var width = frame.Cols;
        var height = frame.Rows;
        for (var y = 0; y < height; y++)
        {
            var row = new Span<byte>((void*)frame.Ptr(y), width * 3);
            for (var x = 0; x < width; x++)
            {
                var id = ids[y * width + x];
                if (id == 0)
                {
                    continue;
                }
                var colour = palette[id];
                // OpenCV frames are BGR.
                row[3 * x] = Mix(row[3 * x], colour.B);
                row[3 * x + 1] = Mix(row[3 * x + 1], colour.G);
                row[3 * x + 2] = Mix(row[3 * x + 2], colour.R);
            }
        }
    }

    private static byte Mix(byte under, byte over) => (byte)(under * (1 - MaskOpacity) + over * MaskOpacity + 0.5);
}
