using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using SineGrpc.Bench;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Models.Embedded;

// Frames a stream serves before it is measured: its prompt, then enough for its memory
// (6 frames by default) to fill and its buffers to reach their steady sizes.
const int SettleFrames = 8;
const string Usage = """
    usage: scripts/bench [--streams 1,2,4,8] [--limit 200] [--frames <folder>] [--size WxH] [--device cpu|cuda|auto] [--server <SineGrpc.Server.dll>]
           scripts/bench --soak <frames> [--every 50] [--frames <folder>] [--size WxH] [--device ...] [--server ...]
           scripts/bench --memory 1,4,8 [--objects 1] [--capacity <the model's default>] [--frames <folder>] [--size WxH] [--device ...] [--server ...]
      --streams  stream counts of the service runs      --limit  frames of the clip to use
      --frames   folder of frames (default ../shared/data/sam2-bedroom/frames)
      --size     resize the clip's frames to this size first (e.g. 1920x1080)
      --soak     serve one stream of this many frames and read the server's memory every --every frames
      --memory   for each stream count, a fresh server with that many streams open at once, each with
                 --objects objects and its memory (--capacity entries) full: the server's resident memory
    """;
if (args is ["-h"] or ["--help"])
{
    Console.WriteLine(Usage);
    return 0;
}
Dictionary<string, string> arguments;
int[] streamCounts;
int limit, objects, soakFrames, every;
int[]? memoryStreams;
uint capacity;
try
{
    arguments = ParseArguments(args);
    streamCounts = PositiveCounts(arguments, "streams", "1,2,4,8");
    limit = PositiveCount(arguments, "limit", 200);
    objects = PositiveCount(arguments, "objects", 1);
    soakFrames = PositiveCount(arguments, "soak", 0);       // 0: no soak run
    every = PositiveCount(arguments, "every", 50);
    memoryStreams = arguments.ContainsKey("memory") ? PositiveCounts(arguments, "memory", "") : null;
    capacity = (uint)PositiveCount(arguments, "capacity", 0); // 0: the model's own default
    if ((arguments.ContainsKey("objects") || arguments.ContainsKey("capacity")) && memoryStreams is null)
    {
        // The raw pipeline, the baseline of the other modes, tracks one object with the default memory.
        throw new ArgumentException("--objects and --capacity go with --memory");
    }
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"bench: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
var repo = FindRepositoryRoot();
var framesFolder = arguments.GetValueOrDefault("frames") ?? Path.GetFullPath(Path.Combine(repo, "..", "shared", "data", "sam2-bedroom", "frames"));
var device = arguments.GetValueOrDefault("device") ?? "cpu";
var serverDll = arguments.GetValueOrDefault("server") ?? Path.Combine(repo, "src", "SineGrpc.Server", "bin", "Release", "net10.0", "SineGrpc.Server.dll");
(int, int)? size = null;
if (arguments.GetValueOrDefault("size") is { } sizeText)
{
    if (sizeText.Split('x') is not [var widthText, var heightText]
        || !int.TryParse(widthText, CultureInfo.InvariantCulture, out var width) || !int.TryParse(heightText, CultureInfo.InvariantCulture, out var height)
        || width < 1 || height < 1)
    {
        Console.Error.WriteLine($"bench: --size wants WIDTHxHEIGHT, like 1920x1080, not '{sizeText}'");
        return 2;
    }
    size = (width, height);
}

BenchFrames frames;
try
{
    frames = BenchFrames.Load(framesFolder, limit, jpegQuality: 90, objects, size);
}
catch (IOException e)
{
    Console.Error.WriteLine($"bench: {e.Message}");
    return 2;
}
if (soakFrames == 0 && memoryStreams is null && streamCounts.FirstOrDefault(s => frames.Jpegs.Count / s <= SettleFrames) is var crowded and > 0)
{
    // Checked now rather than after the raw runs' minutes: each stream's segment of the
    // clip must outlast its settling frames.
    Console.Error.WriteLine($"bench: {frames.Jpegs.Count} frames cut into {crowded} streams leave nothing to measure after each stream's {SettleFrames} settling frames: " +
                            $"use --limit {(SettleFrames + 2) * crowded} or more, or fewer streams");
    return 2;
}
var rawRgbBytes = frames.Width * frames.Height * 3;
Console.WriteLine($"SineGrpc benchmark, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, device {device}, {frames.Jpegs.Count} frames {frames.Width}x{frames.Height} from {framesFolder}");
// Stopped from outside: the servers this run started go too (the runtime then ends it).
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => ServiceProcess.StopAll());
var cache = Directory.CreateTempSubdirectory("sine-bench-").FullName;
try
{
    var bundle = EmbeddedModel.EnsureBuilt(cache, NullLogger.Instance);
    if (soakFrames > 0)
    {
        await SoakAsync(soakFrames, every);
        return 0;
    }
    if (memoryStreams is not null)
    {
        await MemoryAsync(memoryStreams, ModelManifest.Read(Path.Combine(bundle, "model.json")).Memory.Capacity);
        return 0;
    }

    // (a) The raw pipeline: ONNX Runtime alone, in-process, same model and frames, with
    // the same session options as the service's defaults. (Spinning threads, ONNX Runtime's
    // own default, made the raw pipeline about 3% slower here, not faster: 2026-11-28.)
    // It runs before and again after the service (stopped by then), and the ratios use
    // both runs: a shared machine drifts over a benchmark's minutes, and a baseline taken
    // only first would credit or charge the service with that drift.
    var engineOptions = new EngineOptions { Device = device };
    await RawPipeline.RunAsync(bundle, frames with { Jpegs = frames.Jpegs.Take(SettleFrames).ToList() }, engineOptions, SettleFrames);   // warm-up
    var (rawBefore, rawStagesBefore) = await RawPipeline.RunAsync(bundle, frames, engineOptions, measureFrom: SettleFrames);

    // (b) The whole service over loopback gRPC: JPEG in, decode, infer, RLE out.
    var runs = new List<(ServiceRun.Result Result, Dictionary<string, double> Before, Dictionary<string, double> After)>();
    using (var service = await ServiceProcess.StartAsync(serverDll, cache, [$"--Engine:Device={device}"]))
    {
        // Warm-up: as many streams as the largest run, each until its memory is full (6 frames
        // by default) and then some, so the server's buffer pools hold what that many concurrent
        // streams need: the steady state of a long-running service, whose allocations are what
        // matter, not those of its first frames.
        await ServiceRun.RunAsync(service.GrpcAddress, frames, streamCounts.Max(), framesPerStream: SettleFrames + 1);
        foreach (var streams in streamCounts)
        {
            // Measured once every stream has its memory full (its first SettleFrames frames):
            // the steady state of long streams, as the raw pipeline's figures mostly are.
            Dictionary<string, double> before = [];
            var result = await ServiceRun.RunAsync(service.GrpcAddress, frames, streams,
                settleFrames: SettleFrames, settled: async () => before = await service.ScrapeAsync());
            runs.Add((result, before, await service.ScrapeAsync()));
        }
    }
    var (rawAfter, rawStagesAfter) = await RawPipeline.RunAsync(bundle, frames, engineOptions, measureFrom: SettleFrames);
    var raw = LatencyStats.Combine(rawBefore, rawAfter);
    var rawFps = 1000.0 / raw.Mean;

    Console.WriteLine();
    Console.WriteLine("| run | streams | frames/s | p50 ms | p95 ms | p99 ms | p50 / raw p50 | frames/s / raw | batch sizes | managed bytes/frame |");
    Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
    foreach (var (name, stats) in new[] { ("raw ORT (encoder + decoder), before the service", rawBefore), ("raw ORT, after the service", rawAfter), ("raw ORT, both: the baseline", raw) })
    {
        Console.WriteLine($"| {name} | 1 | {1000.0 / stats.Mean:F2} | {stats.Percentile(50):F1} | {stats.Percentile(95):F1} | {stats.Percentile(99):F1} " +
                          $"| {stats.Percentile(50) / raw.Percentile(50):F2} | {1000.0 / stats.Mean / rawFps:F2} | - | - |");
    }
    foreach (var (result, before, after) in runs)
    {
        var fps = result.Frames / result.Seconds;
        var allocated = ScrapedMetrics.Delta(before, after, "dotnet_gc_heap_total_allocated");
        var bytesPerFrame = allocated / result.Frames;
        Console.WriteLine(
            $"| service (gRPC, loopback) | {result.Streams} | {fps:F2} | {result.Latency.Percentile(50):F1} | {result.Latency.Percentile(95):F1} | {result.Latency.Percentile(99):F1} " +
            $"| {result.Latency.Percentile(50) / raw.Percentile(50):F2} | {fps / rawFps:F2} | {BatchSizes(before, after)} " +
            $"| {bytesPerFrame:F0} ({100.0 * bytesPerFrame / rawRgbBytes:F1}% of a raw frame) |");
    }

    // Where a frame's time goes: the service's own per-stage times from its replies (with
    // several streams they include waiting for a session or an encoder batch).
    Console.WriteLine();
    // The last column is the client's send-to-reply time: what it has beyond the server's
    // total is transport, and frames waiting to be read or written.
    Console.WriteLine($"| mean ms per frame | streams | {string.Join(" | ", StageMeans.Stages)} | at the client |");
    Console.WriteLine($"| --- | ---: |{string.Concat(Enumerable.Repeat(" ---: |", StageMeans.Stages.Length + 1))}");
    Console.WriteLine($"| raw ORT before (decode and pre-process outside its clock) | 1 | {rawStagesBefore.Cells()} | - |");
    Console.WriteLine($"| raw ORT after | 1 | {rawStagesAfter.Cells()} | - |");
    foreach (var (result, _, _) in runs)
        Console.WriteLine($"| service | {result.Streams} | {result.Stages.Cells()} | {result.Latency.Mean:F1} |");

    // The service's ONNX Runtime runs alone (server metrics): the stage times above minus
    // these are waiting and the engine's own work around each run.
    Console.WriteLine();
    Console.WriteLine("| streams | encoder run ms | decoder run ms | encoder queue ms (batcher) | decoder queue ms (session lease) |");
    Console.WriteLine("| ---: | ---: | ---: | ---: | ---: |");
    foreach (var (result, before, after) in runs)
    {
        Console.WriteLine($"| {result.Streams} | {MeanMs(before, after, "sine_inference_duration_seconds", "encoder")} | {MeanMs(before, after, "sine_inference_duration_seconds", "decoder")} " +
                          $"| {MeanMs(before, after, "sine_queue_duration_seconds", "encoder-batch")} | {MeanMs(before, after, "sine_queue_duration_seconds", "decoder")} |");
    }
    Console.WriteLine();
    Console.WriteLine($"raw frame = {frames.Width}x{frames.Height}x3 = {rawRgbBytes} bytes; raw = the clip on one in-process pipeline, measured from its frame {SettleFrames} on (as a one-stream service run), run before and after the service, ratios against both; " +
                      $"service = the clip cut into one segment per stream, measured after each stream's first {SettleFrames} frames (prompt, memory filling up): " +
                      "frames/s and latency (send to reply) over the rest, managed bytes/frame = the server process's managed allocation " +
                      "(dotnet.gc.heap.total_allocated) over the rest / its frames.");
}
catch (Exception e)
{
    // Handled, so that every server this run started is stopped on the way out (an
    // unhandled exception ends the process without its finally blocks).
    Console.Error.WriteLine($"bench: failed: {e}");
    return 1;
}
finally
{
    Directory.Delete(cache, recursive: true);
}
return 0;

// One long stream; prints the server's memory along it and how much it grew once settled.
async Task SoakAsync(int totalFrames, int every)
{
    using var service = await ServiceProcess.StartAsync(serverDll, cache, [$"--Engine:Device={device}"]);
    Console.WriteLine();
    Console.WriteLine("| frames | frames/s | server working set MiB | managed heap MiB after the last GC | GC committed MiB then | GCs so far | managed bytes/frame |");
    Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    var checkpoints = await SoakRun.RunAsync(service, frames, totalFrames, every, c =>
        Console.WriteLine($"| {c.Frames} | {c.FramesPerSecond:F2} | {Mib(c.WorkingSetBytes):F1} | {Mib(c.ManagedHeapBytes):F1} | {Mib(c.ManagedCommittedBytes):F1} | {c.Collections:F0} " +
                          $"| {c.AllocatedBytesPerFrame:F0} ({100 * c.AllocatedBytesPerFrame / rawRgbBytes:F1}% of a raw frame) |"));
    // The first checkpoint holds the stream's start (prompt, memory filling up, pools
    // growing). After it, warm-up growth slows down while a leak keeps its pace: the
    // growth over the whole rest is printed beside that over its last half.
    if (checkpoints.Count < 3)
    {
        Console.WriteLine("(too few checkpoints to measure growth: use more frames or a smaller --every)");
        return;
    }
    var (first, middle, last) = (checkpoints[0], checkpoints[checkpoints.Count / 2], checkpoints[^1]);
    var settled = checkpoints.Skip(1).ToList();
    var bytesPerFrame = settled.Sum(c => c.AllocatedBytesPerFrame * c.WindowFrames) / settled.Sum(c => c.WindowFrames);
    Console.WriteLine();
    Console.WriteLine($"server working set: {Mib(last.WorkingSetBytes - first.WorkingSetBytes):+0.0;-0.0} MiB from frame {first.Frames} to {last.Frames}, " +
                      $"{Mib(last.WorkingSetBytes - middle.WorkingSetBytes):+0.0;-0.0} MiB of it from frame {middle.Frames}; " +
                      $"managed heap after the last GC {Mib(last.ManagedHeapBytes - first.ManagedHeapBytes):+0.0;-0.0} MiB from frame {first.Frames}; " +
                      $"managed allocation {bytesPerFrame:F0} bytes/frame ({100 * bytesPerFrame / rawRgbBytes:F1}% of a {frames.Width}x{frames.Height} RGB frame)");
}

// Per stream count, a fresh server (so no run inherits another's high-water marks) with
// that many streams open, each full; prints the server's resident memory and its growth per stream.
async Task MemoryAsync(int[] counts, int defaultEntries)
{
    // The prompt, then enough frames for the memory to fill (its first entry is the
    // prompted frame) and its buffers to reach their steady sizes.
    var entries = capacity > 0 ? (int)capacity : defaultEntries;
    var framesPerStream = entries + 2;
    Console.WriteLine($"{objects} object(s) per stream, memory of {entries} entries, {framesPerStream} frames per stream before reading");
    Console.WriteLine();
    Console.WriteLine("| streams | idle MiB | streams open and full MiB | peak MiB | open - idle, per stream MiB | open, added per stream since the row above MiB |");
    Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
    MemoryRun.Result? previous = null;
    foreach (var streams in counts)
    {
        using var service = await ServiceProcess.StartAsync(serverDll, cache, [$"--Engine:Device={device}"]);
        var r = await MemoryRun.RunAsync(service, frames, streams, framesPerStream, (uint)entries);
        var added = previous is not null && streams > previous.Streams
            ? (Mib(r.HeldBytes - previous.HeldBytes) / (streams - previous.Streams)).ToString("F0", CultureInfo.InvariantCulture)
            : "-";
        Console.WriteLine($"| {streams} | {Mib(r.IdleBytes):F0} | {Mib(r.HeldBytes):F0} | {Mib(r.PeakBytes):F0} | {Mib(r.HeldBytes - r.IdleBytes) / streams:F0} | {added} |");
        previous = r;
    }
    Console.WriteLine();
    Console.WriteLine($"frames {frames.Width}x{frames.Height}; idle = the server serving, models loaded and warmed, no stream; " +
                      "open and full = every stream open after its last reply; peak = the highest resident memory (VmHWM), frames at work included. " +
                      "What the engine's runs need grows with the runs in flight, up to the sessions' limits: the added memory per stream settles once they are reached.");
}

static double Mib(double bytes) => bytes / (1 << 20);

// Mean of a histogram (in seconds) over the run, for one component, in milliseconds.
static string MeanMs(Dictionary<string, double> before, Dictionary<string, double> after, string histogram, string component)
{
    bool Select(string key, string suffix) =>
        key.StartsWith(histogram + suffix + "{", StringComparison.Ordinal) && key.Contains($"component=\"{component}\"", StringComparison.Ordinal);
    var sum = ScrapedMetrics.Delta(before, after, k => Select(k, "_sum"));
    var count = ScrapedMetrics.Delta(before, after, k => Select(k, "_count"));
    return count > 0 ? (1000 * sum / count).ToString("F1", CultureInfo.InvariantCulture) : "-";
}

// "size:count" pairs from the batch-size histogram's buckets, e.g. "1:180 2:10".
static string BatchSizes(Dictionary<string, double> before, Dictionary<string, double> after)
{
    var buckets = after.Keys.Where(k => k.StartsWith("sine_batch_size_bucket", StringComparison.Ordinal))
        .Select(k => (Key: k, Le: k[(k.IndexOf("le=\"", StringComparison.Ordinal) + 4)..].Split('"')[0]))
        .Where(b => b.Le != "+Inf")
        // Summed over the series of each bound (one per model).
        .GroupBy(b => double.Parse(b.Le, CultureInfo.InvariantCulture), b => after[b.Key] - before.GetValueOrDefault(b.Key))
        .Select(g => (Le: g.Key, Count: g.Sum()))
        .OrderBy(b => b.Le).ToList();
    var parts = new List<string>();
    var previous = 0.0;
    foreach (var (le, count) in buckets)
    {
        if (count - previous > 0)
            parts.Add($"{le}:{count - previous:F0}");
        previous = count;
    }
    return parts.Count == 0 ? "-" : string.Join(" ", parts);
}

// A comma-separated list of positive whole numbers.
static int[] PositiveCounts(Dictionary<string, string> arguments, string name, string fallback)
{
    var text = arguments.GetValueOrDefault(name) ?? fallback;
    var counts = text.Split(',').Select(part => int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0).ToArray();
    if (counts.Any(n => n < 1))
        throw new ArgumentException($"--{name} wants positive whole numbers separated by commas, like 1,4, not '{text}'");
    return counts;
}

// One positive whole number; the fallback when the argument is absent.
static int PositiveCount(Dictionary<string, string> arguments, string name, int fallback)
{
    if (arguments.GetValueOrDefault(name) is not { } text)
        return fallback;
    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1)
        throw new ArgumentException($"--{name} wants a positive whole number, not '{text}'");
    return count;
}

static Dictionary<string, string> ParseArguments(string[] args)
{
    string[] known = ["frames", "streams", "limit", "device", "server", "soak", "every", "memory", "objects", "capacity", "size"];
    var values = new Dictionary<string, string>();
    for (var i = 0; i < args.Length; i++)
    {
        var name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : "";
        if (!known.Contains(name))
            throw new ArgumentException($"unknown argument '{args[i]}'");
        if (i + 1 >= args.Length)
            throw new ArgumentException($"{args[i]} needs a value");
        values[name] = args[++i];
    }
    return values;
}

static string FindRepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "SineGrpc.sln")))
            return dir.FullName;
    }
    return Directory.GetCurrentDirectory();
}
