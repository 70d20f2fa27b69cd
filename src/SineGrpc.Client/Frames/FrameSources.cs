using OpenCvSharp;
using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Frames;

/// <summary>Where frames come from: a video file or a folder of images.</summary>
internal interface IFrameSource : IDisposable
{
    /// <summary>How many frames will be read, when known in advance.</summary>
    int? FrameCount { get; }

    /// <summary>The video's frame rate, when it has one.</summary>
    double? FramesPerSecond { get; }

    /// <summary>The frames' names, in order, when known before reading them (a folder's); null for a video.</summary>
    IReadOnlyList<string>? FrameNames { get; }

    /// <summary>The first frame's size, read ahead where that is cheap (a folder's first file); null for a video.</summary>
    Size? FirstFrameSize();

    IEnumerable<SourceFrame> ReadFrames();
}

internal static class FrameSources
{
    /// <summary>A folder is read as frames; anything else as a video file.</summary>
    public static IFrameSource Open(string input, int? maxFrames) =>
        Directory.Exists(input) ? new FolderFrameSource(input, maxFrames) : new VideoFrameSource(input, maxFrames);
}

/// <summary>Frames from image files, sorted by file name; names are the file stems.</summary>
internal sealed class FolderFrameSource(string folder, int? maxFrames) : IFrameSource
{
    private readonly IReadOnlyList<string> _files = [.. FrameFolder.ListFrames(folder).Take(maxFrames ?? int.MaxValue)];

    public int? FrameCount => _files.Count;

    public double? FramesPerSecond => null;

    public IReadOnlyList<string>? FrameNames => [.. _files.Select(FrameFolder.FrameName)];

    public Size? FirstFrameSize()
    {
        // Decoded as the frame itself will be; ListFrames refused a folder without frames.
        using var first = ReadFrames().First();
        return first.Image.Size();
    }

    public IEnumerable<SourceFrame> ReadFrames()
    {
        foreach (var path in _files)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read frame {path}: {ex.Message}", ex);
            }
            yield return SourceFrame.FromFile(FrameFolder.FrameName(path), bytes, FormatOf(path));
        }
    }

    public void Dispose()
    {
    }

    private static FileFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jpg" or ".jpeg" => FileFormat.Jpeg,
        ".png" => FileFormat.Png,
        ".webp" => FileFormat.WebP,
        _ => FileFormat.None,
    };
}

/// <summary>Frames decoded from a video file by OpenCV (FFmpeg); names are 00000, 00001, ...</summary>
internal sealed class VideoFrameSource : IFrameSource
{
    private readonly VideoCapture _capture;
    private readonly int? _maxFrames;

    public VideoFrameSource(string path, int? maxFrames)
    {
        _capture = new VideoCapture(path);
        if (!_capture.IsOpened())
        {
            _capture.Dispose();
            throw new CliException($"cannot open video {path}: OpenCV/FFmpeg does not read it");
        }
        _maxFrames = maxFrames;

        // Containers may not know their frame count or rate; OpenCV then reports 0 or less.
        var count = (int)_capture.FrameCount;
        FrameCount = count > 0 ? Math.Min(count, maxFrames ?? int.MaxValue) : maxFrames;
        var fps = _capture.Fps;
        FramesPerSecond = double.IsFinite(fps) && fps > 0 ? fps : null;
    }

    public int? FrameCount { get; }

    public double? FramesPerSecond { get; }

    public IReadOnlyList<string>? FrameNames => null;

    public Size? FirstFrameSize() => null;

    public IEnumerable<SourceFrame> ReadFrames()
    {
        for (var index = 0; index < (_maxFrames ?? int.MaxValue); index++)
        {
            var image = new Mat();
            if (!_capture.Read(image) || image.Empty())
            {
                image.Dispose();
                yield break;
            }
            yield return SourceFrame.FromPixels(index.ToString("D5", System.Globalization.CultureInfo.InvariantCulture), image);
        }
    }

    public void Dispose() => _capture.Dispose();
}
