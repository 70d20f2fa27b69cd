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
        : this(model, model.CreateTracker(policy), policy, output, framesProcessed: 0)
    {
    }

    private TrackSession(LoadedModel model, IFrameTracker tracker, MemoryPolicy policy, OutputSpec output, int framesProcessed)
    {
        _model = model;
        _spec = output;
        _tracker = tracker;
        _encoder = new FrameEncoder(model);
        _output = new OutputBuilder(new Postprocessor());
        _batchMembership = model.Batcher?.Join();
        Policy = policy;
        _frameNumber = framesProcessed;
    }

    /// <summary>
    /// A session that goes on from <paramref name="state"/>, as the stream that captured it
    /// would have: the same memory, the same frame count. The state comes from a client, so
    /// anything about it that does not fit this model is <see cref="InvalidInputException"/>.
    /// </summary>
    /// <param name="maxCapacity">The largest memory capacity a stream may have (EngineOptions.MaxMemoryCapacity).</param>
    public static TrackSession Resume(LoadedModel model, StreamState state, OutputSpec output, int maxCapacity)
    {
        if (!model.HasStreamState)
            throw new InvalidInputException($"model {model.Name} has {model.Manifest.MemoryKind} memory, which has no stream state to resume from");
        if (state.Model != model.Name || state.ModelVersion != model.Manifest.Version)
            throw new InvalidInputException(
                $"the state comes from a stream on model {state.Model} version {state.ModelVersion}; this stream is on {model.Name} version {model.Manifest.Version}");
        if (state.FramesProcessed < 0)
            throw new InvalidInputException($"the state's frame count {state.FramesProcessed} is negative");
        var memory = TokenMemory.Restore(state.Memory, model.Manifest.FeatureChannels, state.FramesProcessed, maxCapacity);
        return new TrackSession(model, new TokenTracker(model, memory), memory.Policy, output, state.FramesProcessed);
    }

    public MemoryPolicy Policy { get; }

    public string ModelName => _model.Name;

    /// <summary>How this stream's masks are answered.</summary>
    public OutputSpec Output => _spec;

    /// <summary>Objects being tracked, increasing.</summary>
    public IReadOnlyList<int> ObjectIds => _tracker.ObjectIds;

    /// <summary>Frames processed so far (memory ages count these).</summary>
    public int FramesProcessed => _frameNumber;

    /// <summary>
    /// Output-size mask planes a frame of <paramref name="objects"/> objects holds: one per
    /// object where masks may overlap; one that they all share where they cannot (an index
    /// layout, or a model whose objects compete for each pixel).
    /// </summary>
    public int MaskPlanes(int objects) =>
        objects > 0 && (_spec.Exclusive || _model.MapKind == MapKind.Labels) ? 1 : objects;

    /// <summary>Approximate bytes of this stream's memory.</summary>
    public long MemoryBytes => _tracker.MemoryBytes;

    /// <summary>What <see cref="Resume"/> needs to go on from here; null on a model without stream state (dense memory).</summary>
    public StreamState? CaptureState() =>
        _tracker.CaptureMemory() is { } memory ? new StreamState(_model.Name, _model.Manifest.Version, _frameNumber, memory) : null;

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
            if (prompt.IsEmpty)
                throw new InvalidInputException($"the mask of object {prompt.ObjectId} is empty");
        }
    }
}
