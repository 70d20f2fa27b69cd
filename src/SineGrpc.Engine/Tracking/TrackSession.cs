using System.Diagnostics;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// One video stream: its memory and its scratch buffers. Frames must be given one at
/// a time, in order; different sessions run concurrently. Each frame costs at most one
/// encoder run, whatever the memory size or the number of objects.
/// </summary>
public sealed class TrackSession : IDisposable
{
    private readonly LoadedModel _model;
    private readonly IFrameTracker _tracker;
    private readonly FrameEncoder _encoder;
    private readonly OutputBuilder _output;
    private readonly OutputSpec _spec;
    private readonly IDisposable? _batchMembership;
    private int _frameNumber;

    public TrackSession(LoadedModel model, MemoryPolicy policy, OutputSpec output)
    {
        _model = model;
        _spec = output;
        _tracker = model.CreateTracker(policy);
        _encoder = new FrameEncoder(model);
        _output = new OutputBuilder(new Postprocessor());
        _batchMembership = model.Batcher?.Join();
        Policy = policy;
    }

    public MemoryPolicy Policy { get; }

    public string ModelName => _model.Name;

    /// <summary>How this stream's masks are answered.</summary>
    public OutputSpec Output => _spec;

    /// <summary>Objects being tracked, increasing.</summary>
    public IReadOnlyList<int> ObjectIds => _tracker.ObjectIds;

    /// <summary>Frames processed so far (memory ages count these).</summary>
    public int FramesProcessed => _frameNumber;

    /// <summary>Approximate bytes of this stream's memory.</summary>
    public long MemoryBytes => _tracker.MemoryBytes;

    /// <summary>
    /// Segments one frame. Bad input (<see cref="InvalidInputException"/>) is detected
    /// before any state changes, so the stream can go on with the next frame.
    /// </summary>
    public async Task<FrameResult> ProcessFrameAsync(FrameInput input, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var times = new StageTimes();
        var width = input.Image.Width;
        var height = input.Image.Height;
        PromptValidation.Check(input.Prompts, width, height);
        _ = _spec.Resolve(width, height);

        FrameResult result;
        if (input.Prompts.Count == 0 && _tracker.ObjectIds.All(input.RemovedObjectIds.Contains))
        {
            // Nothing (left) to track: no model work at all, and nothing on this path can
            // refuse the frame, so its removals are made at once.
            foreach (var id in input.RemovedObjectIds)
                _tracker.Remove(id);
            var geometry = InputGeometry.For(_model.Manifest, width, height);
            using var none = ObjectMaps.Empty(MapKind.Logits);
            result = _output.Build(none, geometry, [], _spec, times).Result;
        }
        else
        {
            try
            {
                result = await TrackAsync(input, times, cancellationToken);
            }
            catch (Exception e) when (e is not (InvalidInputException or OperationCanceledException))
            {
                // An unexpected failure can come after the tracker stored this frame (a
                // prompt's anchor): the next frame must not take its number.
                _frameNumber++;
                throw;
            }
        }

        _frameNumber++;
        times.TotalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return result;
    }

    /// <summary>One frame through the model: encode, decode against memory, post-process, remember.</summary>
    private async Task<FrameResult> TrackAsync(FrameInput input, StageTimes times, CancellationToken cancellationToken)
    {
        using var features = await _encoder.EncodeAsync(input.Image, times, cancellationToken);

        var step = Stopwatch.GetTimestamp();
        using var maps = await _tracker.PredictAsync(features, input.Prompts, input.RemovedObjectIds, _frameNumber, cancellationToken);
        times.DecoderMs = Stopwatch.GetElapsedTime(step).TotalMilliseconds;

        step = Stopwatch.GetTimestamp();
        var (result, scores, _) = _output.Build(maps, features.Geometry, input.Prompts, _spec, times);
        times.PostprocessMs = Stopwatch.GetElapsedTime(step).TotalMilliseconds;

        step = Stopwatch.GetTimestamp();
        try
        {
            await _tracker.RememberAsync(features, maps, scores, input.Prompts.Count > 0, _frameNumber, cancellationToken);
        }
        catch
        {
            result.Dispose();   // its masks go back to their pools
            throw;
        }
        times.MemoryMs = Stopwatch.GetElapsedTime(step).TotalMilliseconds;
        return result;
    }

    public void Dispose()
    {
        _batchMembership?.Dispose();
        _tracker.Dispose();
        _encoder.Dispose();
        _output.Dispose();
    }
}

/// <summary>Checks callers' prompts against their frame before anything is computed.</summary>
internal static class PromptValidation
{
    public static void Check(IReadOnlyList<PromptMask> prompts, int width, int height)
    {
        var seen = new HashSet<int>();
        foreach (var prompt in prompts)
        {
            if (prompt.ObjectId <= 0 || prompt.ObjectId > ushort.MaxValue)
                throw new InvalidInputException($"object id {prompt.ObjectId} is out of range: ids are 1 to {ushort.MaxValue}");
            if (!seen.Add(prompt.ObjectId))
                throw new InvalidInputException($"object {prompt.ObjectId} is prompted twice on one frame");
            if (prompt.Mask.Length != width * height)
                throw new InvalidInputException($"the mask of object {prompt.ObjectId} has {prompt.Mask.Length} pixels, its frame {width}x{height} has {width * height}");
            if (!prompt.Mask.Span.ContainsAnyExcept((byte)0))
                throw new InvalidInputException($"the mask of object {prompt.ObjectId} is empty");
        }
    }
}
