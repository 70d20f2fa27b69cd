using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Eval;

/// <summary>The validated options of <c>sine eval</c>.</summary>
internal sealed record EvalOptions
{
    /// <summary>A sanity bound; the server refuses streams beyond its own limit (Limits:MaxConcurrentStreams, 16 by default) with RESOURCE_EXHAUSTED.</summary>
    public const int MaxStreams = 64;

    public static readonly CommandSpec Command = new(
        Name: "eval",
        Usage: "sine eval --data <davis folder> --output <folder> [options]",
        Description:
            "Semi-supervised video object segmentation benchmark through the server, scored as the\n" +
            "davis2017-evaluation toolkit scores it. Every sequence of a DAVIS-layout folder\n" +
            "(JPEGImages/<res>/<seq>/*.jpg, Annotations/<res>/<seq>/*.png) is streamed over Track with\n" +
            "the first frame's annotation as the prompt; the predicted index masks go to\n" +
            "<output>/<seq>/<frame>.png. J (region IoU) and F (boundary F-measure) are computed per\n" +
            "object on every annotated frame but the first and the last, and summarised as mean,\n" +
            "recall and decay; J&F = (J mean + F mean) / 2 over all objects. Prints a per-sequence\n" +
            "table with frames per second and writes <output>/global_results.csv and\n" +
            "<output>/per-sequence_results.csv in the toolkit's layout (fractions, not percent),\n" +
            "plus <output>/timing.csv.",
        Options:
        [
            new("data", "folder", "DAVIS-layout folder (holding JPEGImages and Annotations)"),
            new("output", "folder", "Folder for the predicted masks and the result CSVs (created if missing)"),
            ServerAddress.Option,
            new("model", "name", "Model to use (default: the server's default; see 'sine models')"),
            new("sequences", "a,b,...", "Only these sequences (default: every sequence of the folder)"),
            new("resolution", "name", "Resolution folder under JPEGImages and Annotations (default 480p)"),
            new("encoding", "jpeg|png|raw", "How frames are sent (default jpeg: the JPEG files as they are on disk)"),
            new("streams", "n", "Sequences streamed at once, each on its own Track stream (default 1). More keep a\n" +
                "GPU server's encoder batches full; each sequence's frames per second then share the server"),
        ]);

    public required string Data { get; init; }
    public required string Output { get; init; }
    public required Uri Server { get; init; }
    public string? Model { get; init; }
    public IReadOnlyList<string> Sequences { get; init; } = [];
    public string Resolution { get; init; } = "480p";
    public FrameEncoding Encoding { get; init; } = FrameEncoding.Jpeg;
    public int Streams { get; init; } = 1;

    public static EvalOptions FromArguments(ParsedArguments args)
    {
        var data = args.GetRequired("data");
        var output = args.GetRequired("output");
        if (!Directory.Exists(data))
        {
            throw new UsageException($"--data: no such folder: {data}");
        }
        if (File.Exists(output))
        {
            throw new UsageException($"--output must be a folder, but {output} is a file");
        }
        // Eval deletes the *.png files of <output>/<sequence> before writing its masks there.
        foreach (var tree in new[] { "Annotations", "JPEGImages" })
        {
            var inputs = Path.Combine(data, tree);
            if (FolderPaths.IsSameOrInside(output, inputs) || FolderPaths.IsSameOrInside(inputs, output))
            {
                throw new UsageException($"--output {output} overlaps the dataset's {inputs}; write the results to a folder outside it");
            }
        }
        var sequences = (args.Get("sequences") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new EvalOptions
        {
            Data = data,
            Output = output,
            Server = ServerAddress.Parse(args),
            Model = args.Get("model"),
            Sequences = sequences,
            Resolution = args.Get("resolution") ?? "480p",
            Encoding = args.Get("encoding") switch
            {
                null or "jpeg" or "jpg" => FrameEncoding.Jpeg,
                "png" => FrameEncoding.Png,
                "raw" => FrameEncoding.Raw,
                var other => throw new UsageException($"--encoding must be jpeg, png or raw, not '{other}'"),
            },
            Streams = args.GetInt("streams", 1, MaxStreams) ?? 1,
        };
    }
}
