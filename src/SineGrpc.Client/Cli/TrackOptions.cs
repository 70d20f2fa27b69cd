using SineGrpc.Client.Tracking;

namespace SineGrpc.Client.Cli;

/// <summary>How frames travel to the server.</summary>
internal enum FrameEncoding
{
    Jpeg,
    Png,
    Raw,
}

/// <summary>The validated options of <c>sine track</c>.</summary>
internal sealed record TrackOptions
{
    public const int DefaultJpegQuality = 90;

    public static readonly CommandSpec Command = new(
        Name: "track",
        Usage: "sine track --input <video|folder> --mask <png> and/or --prompts <folder> --output <folder> [options]",
        Description:
            "Tracks objects through a video and writes one mask per frame, <output>/<frame name>.png: an 8-bit\n" +
            "palette PNG whose pixel values are object ids, coloured with the DAVIS palette. Objects come from\n" +
            "--mask (on the first frame) and from --prompts (each on the frame with the same name); give either\n" +
            "or both. Frames of a folder keep their file names; frames of a video are named 00000, 00001, ...",
        Options:
        [
            new("input", "path", "Video file (anything FFmpeg reads) or folder of frames (.jpg .jpeg .png .webp, sorted by name)"),
            new("mask", "png", "First frame's mask: palette PNG of object ids, or grayscale PNG (a 0/255 mask is object 1)"),
            new("prompts", "folder", "Mask PNGs named after frames (e.g. 00005.png) that add or re-anchor objects there"),
            new("output", "folder", "Folder for the per-frame masks (created if missing)"),
            new("overlay", "file.mp4", $"Also write a video with the masks blended over the frames ({string.Join(" ", OverlayWriter.Extensions)})"),
            ServerAddress.Option,
            new("model", "name", "Model to use (default: the server's default; see 'sine models')"),
            new("max-frames", "n", "Stop after n frames"),
            new("encoding", "jpeg|png|raw", "How frames are sent: jpeg (default), png, or raw BGR pixels; folder frames\n" +
                "already in that format are sent as they are on disk"),
            new("jpeg-quality", "1-100", $"Quality of frames encoded as JPEG (default {DefaultJpegQuality})"),
            new("live", null, "Camera mode (the stream's start.live): frames the server could not keep up with\n" +
                "are skipped, the newest frame winning, and get no mask file; prompted frames are never skipped"),
            new("fps", "rate", "Send frames no faster than this many per second, as a camera delivers them (a video\n" +
                "or folder played as live input, with --live); default: as fast as the server takes them"),
            new("resume", "n", "Times to go on over a new stream when the server ends one with UNAVAILABLE\n" +
                "(a draining pod, a lost connection) after answering frames: on a token-memory model (SINE)\n" +
                "from the last reply's stream state, otherwise after the prompted frames and the last\n" +
                $"{TrackFrames.RecentFramesReplayed} answered ones, sent again to rebuild the memory; 0: never (default {DefaultResumes}, at most {MaxResumes})"),
        ]);

    public const int DefaultResumes = 5;

    public const int MaxResumes = 100;

    public const double MaxFramesPerSecond = 1000;

    public required string Input { get; init; }
    public string? Mask { get; init; }
    public string? PromptsFolder { get; init; }
    public required string Output { get; init; }
    public string? Overlay { get; init; }
    public required Uri Server { get; init; }
    public string? Model { get; init; }
    public int? MaxFrames { get; init; }
    public FrameEncoding Encoding { get; init; } = FrameEncoding.Jpeg;
    public int JpegQuality { get; init; } = DefaultJpegQuality;
    public int Resumes { get; init; } = DefaultResumes;
    public bool Live { get; init; }
    public double? FramesPerSecond { get; init; }

    /// <summary>Checks the options' syntax and that the files and folders they name exist.</summary>
    public static TrackOptions FromArguments(ParsedArguments args)
    {
        var input = args.GetRequired("input");
        var output = args.GetRequired("output");
        var mask = args.Get("mask");
        var prompts = args.Get("prompts");
        if (mask is null && prompts is null)
        {
            throw new UsageException("give the objects to track with --mask <png> (first frame) and/or --prompts <folder>");
        }

        if (!File.Exists(input) && !Directory.Exists(input))
        {
            throw new UsageException($"--input: no such file or folder: {input}");
        }
        if (mask is not null && Directory.Exists(mask))
        {
            throw new UsageException($"--mask must be a PNG file, but {mask} is a folder");
        }
        if (mask is not null && !File.Exists(mask))
        {
            throw new UsageException($"--mask: no such file: {mask}");
        }
        if (prompts is not null && !Directory.Exists(prompts))
        {
            throw new UsageException($"--prompts: no such folder: {prompts}");
        }
        if (File.Exists(output))
        {
            throw new UsageException($"--output must be a folder, but {output} is a file");
        }
        // The masks are named after the frames (and the prompts): written there, they would overwrite them.
        if (Directory.Exists(input) && FolderPaths.AreSame(output, input))
        {
            throw new UsageException($"--output {output} is the --input folder; write the masks to another folder");
        }
        if (prompts is not null && FolderPaths.AreSame(output, prompts))
        {
            throw new UsageException($"--output {output} is the --prompts folder; write the masks to another folder");
        }

        var overlay = args.Get("overlay");
        if (overlay is not null && Directory.Exists(overlay))
        {
            throw new UsageException($"--overlay must be a video file name, but {overlay} is a folder");
        }
        if (overlay is not null && !OverlayWriter.Supports(overlay))
        {
            throw new UsageException(
                $"--overlay {overlay}: the overlay video must be one of {string.Join(" ", OverlayWriter.Extensions)}, not '{Path.GetExtension(overlay)}'");
        }

        return new TrackOptions
        {
            Input = input,
            Mask = mask,
            PromptsFolder = prompts,
            Output = output,
            Overlay = overlay,
            Server = ServerAddress.Parse(args),
            Model = args.Get("model"),
            MaxFrames = args.GetInt("max-frames", 1, int.MaxValue),
            Encoding = ParseEncoding(args.Get("encoding")),
            JpegQuality = args.GetInt("jpeg-quality", 1, 100) ?? DefaultJpegQuality,
            Resumes = args.GetInt("resume", 0, MaxResumes) ?? DefaultResumes,
            Live = args.Has("live"),
            FramesPerSecond = args.GetPositive("fps", MaxFramesPerSecond),
        };
    }

    private static FrameEncoding ParseEncoding(string? text) => text switch
    {
        null or "jpeg" or "jpg" => FrameEncoding.Jpeg,
        "png" => FrameEncoding.Png,
        "raw" => FrameEncoding.Raw,
        _ => throw new UsageException($"--encoding must be jpeg, png or raw, not '{text}'"),
    };
}
