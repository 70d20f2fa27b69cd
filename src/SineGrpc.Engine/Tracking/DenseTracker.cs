using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tracking;

/// <summary>
/// Dense label propagation over remembered frames: the decoder matches the target's
/// features against every memory frame's features and carries their soft labels over.
/// A prompted frame is stored as an anchor with the prompts' labels; every other frame
/// is stored with its own prediction, subject to the memory policy.
///
/// Objects that join mid-stream are unknown to the frames stored before they joined:
/// those frames call them background wherever they already were. So objects are
/// decoded in groups by the frame they joined on, each group against only the frames
/// that know it (one group in the usual case where every object is prompted on the first
/// frame), and the groups' answers are merged. A model with a grouped decoder
/// (<see cref="LoadedModel.GroupedDecoder"/>; the embedded one has it) answers every group in
/// one run; any other runs its decoder once per group.
/// </summary>
internal sealed class DenseTracker : IFrameTracker
{
    private static readonly string[] DecoderOutputs = ["labels"];

    private readonly LoadedModel _model;
    private readonly MemoryPolicy _policy;
    private readonly Preprocessor _preprocessor;
    private readonly Dictionary<int, int> _joinedAt = [];
    private DenseMemory? _memory;

    public DenseTracker(LoadedModel model, MemoryPolicy policy)
    {
        _model = model;
        _policy = policy;
        _preprocessor = new Preprocessor(model.Manifest);
    }

    public IReadOnlyList<int> ObjectIds => _memory?.ObjectIds ?? [];

    public long MemoryBytes => _memory?.ByteSize ?? 0;

    /// <summary>None: a dense memory holds whole feature maps (85 MB at 854x480), no state to hand a client.</summary>
    public TokenMemoryState? CaptureMemory() => null;

    public Task AddReferenceAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, int frameNumber, CancellationToken cancellationToken)
    {
        CheckFrameSize(features);
        using var coverage = PromptCoverage(features, prompts);
        var memory = MemoryFor(features);
        memory.AddObjects(prompts.Select(p => p.ObjectId));
        // In-context references describe the whole image: every reference speaks for every object.
        foreach (var prompt in prompts)
            _joinedAt.TryAdd(prompt.ObjectId, int.MinValue);
        using var labels = PooledArray<float>.Zeroed(memory.LabelCount * memory.Cells);
        labels.Span[..memory.Cells].Fill(1f);
        PaintPrompts(coverage.Span, ChannelsOf(prompts, memory), memory.LabelCount, labels.Span);
        memory.Anchor(features.Data.Span, labels.Span, [.. prompts.Select(p => p.ObjectId)], frameNumber);
        return Task.CompletedTask;
    }

    public async Task<ObjectMaps> PredictAsync(FeatureMap features, IReadOnlyList<PromptMask> prompts, IReadOnlyList<int> removedObjectIds, int frameNumber, CancellationToken cancellationToken)
    {
        // Every check before the memory is made or changed: a refused first frame must not
        // fix the stream's frame size.
        CheckFrameSize(features);
        if (_memory is not null)
            CheckPromptedFrames(_memory, prompts, removedObjectIds, frameNumber);
        // Most frames carry no prompt: they need no coverage, nor its scratch plane.
        using var coverage = prompts.Count == 0 ? null : PromptCoverage(features, prompts);
        var memory = MemoryFor(features);
        foreach (var id in removedObjectIds)
            Remove(id);
        var hadObjects = memory.ObjectIds.Count > 0;
        var added = prompts.Select(p => p.ObjectId).Where(id => memory.ChannelOf(id) < 0).ToList();
        memory.AddObjects(prompts.Select(p => p.ObjectId));
        foreach (var prompt in prompts)
            _joinedAt.TryAdd(prompt.ObjectId, frameNumber);
        if (memory.ObjectIds.Count == 0)
            return ObjectMaps.Empty(MapKind.Labels);

        var cells = memory.Cells;
        var labels = PooledArray<float>.Zeroed(memory.LabelCount * cells);
        try
        {
            var everyObjectPrompted = memory.ObjectIds.All(id => prompts.Any(p => p.ObjectId == id));
            if (hadObjects && memory.EntryCount > 0 && !everyObjectPrompted)
                await DecodeAsync(features, memory, labels, cancellationToken);
            else
                labels.Span[..cells].Fill(1f);

            if (prompts.Count > 0)
            {
                PaintPrompts(coverage!.Span, ChannelsOf(prompts, memory), memory.LabelCount, labels.Span);
                memory.Anchor(features.Data.Span, labels.Span, [.. prompts.Select(p => p.ObjectId)], frameNumber);
            }

            var presence = new float[memory.ObjectIds.Count];
            Array.Fill(presence, 1f);
            return new ObjectMaps([.. memory.ObjectIds], MapKind.Labels, labels, features.Height, features.Width, presence);
        }
        catch
        {
            labels.Dispose();
            // The frame fails (a decoder error, which the service answers and goes on from,
            // or cancellation): its new objects were never anchored, and left in they would
            // be tracked from no prompt at all, empty on every frame.
            foreach (var id in added)
                Remove(id);
            throw;
        }
    }

    public Task RememberAsync(FeatureMap features, ObjectMaps maps, float[] scores, bool prompted, int frameNumber, CancellationToken cancellationToken)
    {
        // A prompted frame is already in memory as an anchor.
        if (prompted || _memory is null || maps.ObjectIds.Length == 0)
            return Task.CompletedTask;
        var score = 0f;
        foreach (var s in scores)
            score += s;
        _memory.Remember(features.Data.Span, maps.Maps.Span, score / scores.Length, frameNumber);
        return Task.CompletedTask;
    }

    public bool Remove(int objectId)
    {
        _joinedAt.Remove(objectId);
        var removed = _memory?.Remove(objectId) ?? false;
        ForgetUnreadFrames();
        return removed;
    }

    // Each group of objects is decoded against the frames stored since it joined, so a
    // frame from before every tracked object joined (all of them, once the last object
    // is removed) is read by no one. Kept, it would still hold a slot of the memory and
    // outrank the tracked objects' own predictions there until it decayed.
    private void ForgetUnreadFrames()
    {
        var earliest = _joinedAt.Count == 0 ? int.MaxValue : _joinedAt.Values.Min();
        _memory?.ForgetBefore(earliest);
    }

    public void Dispose()
    {
        _memory?.Dispose();
        _preprocessor.Dispose();
    }

    private DenseMemory MemoryFor(FeatureMap features) =>
        _memory ??= new DenseMemory(features.Channels, features.Height, features.Width, _policy, _model.Decoder.StreamInputMemory);

    private void CheckFrameSize(FeatureMap features)
    {
        if (_memory is not null && (_memory.Height != features.Height || _memory.Width != features.Width))
            throw new InvalidInputException(
                $"frame size changed within the stream: this model's memory needs every frame to give the first frame's " +
                $"feature grid ({_memory.Width}x{_memory.Height} cells; this frame gives {features.Width}x{features.Height}): send frames of one size");
    }

    /// <summary>
    /// Refuses a frame whose prompts would make the stream hold more prompted frames than
    /// <see cref="LoadedModel.MaxPromptedFrames"/>: anchor frames kept in memory, or frames
    /// objects joined on (each a pass of its own over the memory, every frame), whichever are more.
    /// </summary>
    private void CheckPromptedFrames(DenseMemory memory, IReadOnlyList<PromptMask> prompts, IReadOnlyList<int> removedObjectIds, int frameNumber)
    {
        if (prompts.Count == 0)
            return;
        var staying = memory.ObjectIds.Except(removedObjectIds).ToHashSet();
        var joins = staying.Select(id => _joinedAt.GetValueOrDefault(id, int.MinValue)).ToHashSet();
        if (prompts.Any(p => !staying.Contains(p.ObjectId)))
            joins.Add(frameNumber);
        var anchors = _policy.FixFirstFrame
            ? memory.AnchorsKeptWithout(prompts.Select(p => p.ObjectId).Concat(removedObjectIds).ToHashSet()) + 1
            : 0;
        var held = Math.Max(joins.Count, anchors);
        var limit = _model.MaxPromptedFrames;
        if (held > limit)
            throw new InvalidInputException(
                $"with this frame's prompts the stream's objects would be prompted on {held} different frames, over this model's limit of {limit} " +
                "(each is kept in memory, and objects that joined on different frames are decoded apart, each group against its own frames): " +
                "prompt objects together on one frame, " +
                "or stop tracking some with remove_object_ids");
    }

    private async Task DecodeAsync(FeatureMap features, DenseMemory memory, PooledArray<float> labels, CancellationToken cancellationToken)
    {
        var cells = memory.Cells;
        labels.Span[..cells].Fill(float.MaxValue);
        // A group none of whose frames is stored any more (all evicted) has nothing to read.
        var groups = memory.ObjectIds.GroupBy(id => _joinedAt.GetValueOrDefault(id, int.MinValue))
            .Select(group => new ObjectGroup(group.Key, [.. group.Select(memory.ChannelOf)], memory.CountSince(group.Key)))
            .Where(group => group.FrameCount > 0)
            .OrderBy(group => group.SinceFrame)
            .ToList();
        // The grouped decoder's first answer reads every stored frame: the earliest group's (only
        // frames from on or after its join are kept, see ForgetUnreadFrames). The groups that
        // joined later each get an answer of their own after it.
        var firstReadsAll = groups.Count > 0 && groups[0].FrameCount == memory.EntryCount;
        var later = firstReadsAll ? groups.Skip(1).ToList() : groups;
        if (later.Count > 0 && _model.GroupedDecoder is { } groupedDecoder)
        {
            using var outputs = await RunGroupedDecoderAsync(groupedDecoder, features, memory, later, cancellationToken);
            var decoded = OrtTensors.Data(outputs.First());
            var rowSize = memory.LabelCount * cells;
            if (firstReadsAll)
                MergeRow(decoded[..rowSize], groups[0].Channels, labels.Span, cells);
            for (var g = 0; g < later.Count; g++)
                MergeRow(decoded.Slice((1 + g) * rowSize, rowSize), later[g].Channels, labels.Span, cells);
        }
        else
        {
            // One group that reads every frame (the usual case: one plain run), or a model
            // without a grouped decoder (a run per group).
            foreach (var group in groups)
            {
                using var outputs = await RunDecoderAsync(features, memory, group.SinceFrame, group.Channels, group.FrameCount, cancellationToken);
                Merge(OrtTensors.Data(outputs.First()), group.Channels, labels.Span, cells);
            }
        }
        Normalise(labels.Span, memory.LabelCount, cells);
    }

    /// <summary>Objects that joined on the same frame: they read the <paramref name="FrameCount"/> frames stored since.</summary>
    private sealed record ObjectGroup(int SinceFrame, int[] Channels, int FrameCount);

    // One group's answer, decoded on its own channels [1 + group, cells], into the frame's
    // labels: its object channels as they are, and the background where every group so far
    // agrees it is background (the least of theirs).
    private static void Merge(ReadOnlySpan<float> decoded, int[] channels, Span<float> labels, int cells)
    {
        var background = labels[..cells];
        for (var cell = 0; cell < cells; cell++)
            background[cell] = Math.Min(background[cell], decoded[cell]);
        for (var k = 0; k < channels.Length; k++)
            decoded.Slice((k + 1) * cells, cells).CopyTo(labels.Slice(channels[k] * cells, cells));
    }

    // One group's row of a grouped run, decoded on every channel [L, cells], merged as
    // Merge does: to the group everything but its own objects is background, so its
    // background is what its objects leave (what a run on its own channels gives, since
    // propagation carries each cell's labels over as a weighted mean).
    private static void MergeRow(ReadOnlySpan<float> row, int[] channels, Span<float> labels, int cells)
    {
        var background = labels[..cells];
        for (var cell = 0; cell < cells; cell++)
        {
            var own = 0f;
            foreach (var channel in channels)
                own += row[channel * cells + cell];
            background[cell] = Math.Min(background[cell], Math.Max(0f, 1f - own));
        }
        foreach (var channel in channels)
            row.Slice(channel * cells, cells).CopyTo(labels.Slice(channel * cells, cells));
    }

    /// <summary>
    /// Decodes in one run against the whole memory (read where it lies, its labels on every
    /// channel), and for each of <paramref name="groups"/> (at least one) against only the
    /// frames it reads (<see cref="DenseDecoderInputs.MemoryVisible"/>): [1 + groups, L, h, w].
    /// </summary>
    private static async Task<IDisposableReadOnlyCollection<OrtValue>> RunGroupedDecoderAsync(OnnxComponent decoder, FeatureMap features, DenseMemory memory,
        List<ObjectGroup> groups, CancellationToken cancellationToken)
    {
        var cells = memory.Cells;
        var m = memory.EntryCount;
        using var lease = await decoder.LeaseAsync(cancellationToken);
        using var memoryLabels = decoder.InputMemory.Rent(m * memory.LabelCount * cells);
        memory.CopyLabelsTo(memoryLabels.Span);
        using var visible = decoder.InputMemory.Rent(groups.Count * m);
        for (var g = 0; g < groups.Count; g++)
            memory.MarkFramesSince(groups[g].SinceFrame, visible.Span.Slice(g * m, m));
        using var target = OrtTensors.Wrap(features.Data.Memory, 1, features.Channels, features.Height, features.Width);
        using var memFeatures = memory.FeaturesAsOrtValue();
        using var memLabels = memoryLabels.AsOrtValue(m, memory.LabelCount, memory.Height, memory.Width);
        using var visibleValue = visible.AsOrtValue(groups.Count, m);
        return await lease.RunAsync(DenseDecoderInputs.Grouped, [target, memFeatures, memLabels, visibleValue], DecoderOutputs);
    }

    /// <summary>
    /// Decodes one group of objects against the <paramref name="m"/> frames stored since it
    /// joined. The decoder reads the memory's features where they lie when the group
    /// knows every stored frame (the usual case); only a group that joined later gets a
    /// copy of its frames, made under the session lease so that only as many copies exist
    /// as decoder runs can be in flight, not one per waiting stream. The labels, a small
    /// fraction of the memory, are copied per run either way (each group sees its own
    /// channels).
    /// </summary>
    private async Task<IDisposableReadOnlyCollection<OrtValue>> RunDecoderAsync(FeatureMap features, DenseMemory memory, int sinceFrame, int[] channels, int m,
        CancellationToken cancellationToken)
    {
        var cells = memory.Cells;
        var labelCount = channels.Length + 1;
        using var lease = await _model.Decoder.LeaseAsync(cancellationToken);
        using var memoryLabels = _model.Decoder.InputMemory.Rent(m * labelCount * cells);
        memory.CopyLabelsTo(memoryLabels.Span, sinceFrame, channels);
        using var copiedFeatures = m < memory.EntryCount ? CopyFeatures(memory, sinceFrame, m) : null;
        using var target = OrtTensors.Wrap(features.Data.Memory, 1, features.Channels, features.Height, features.Width);
        using var memFeatures = copiedFeatures?.AsOrtValue(m, memory.Channels, memory.Height, memory.Width) ?? memory.FeaturesAsOrtValue();
        using var memLabels = memoryLabels.AsOrtValue(m, labelCount, memory.Height, memory.Width);
        return await lease.RunAsync(DenseDecoderInputs.Plain, [target, memFeatures, memLabels], DecoderOutputs);
    }

    private HostTensor CopyFeatures(DenseMemory memory, int sinceFrame, int m)
    {
        var copy = _model.Decoder.InputMemory.Rent(m * memory.Channels * memory.Cells);
        memory.CopyFeaturesTo(copy.Span, sinceFrame);
        return copy;
    }

    // Groups decoded apart need not sum to one together; memory expects distributions.
    private static void Normalise(Span<float> labels, int labelCount, int cells)
    {
        for (var cell = 0; cell < cells; cell++)
        {
            var sum = 0f;
            for (var c = 0; c < labelCount; c++)
                sum += labels[c * cells + cell];
            if (sum <= 0f || sum == 1f)
                continue;
            for (var c = 0; c < labelCount; c++)
                labels[c * cells + cell] /= sum;
        }
    }

    /// <summary>
    /// Each prompt's share of every feature cell, [prompts, cells], computed before the
    /// frame changes anything. A prompt that the resize to the model's input loses (a few
    /// pixels) covers instead the cell around its centre
    /// (<see cref="Preprocessor.CentreCellToInput"/>), as on the token model, rather than
    /// anchoring an object that no cell of memory ever labels.
    /// </summary>
    private PooledArray<float> PromptCoverage(FeatureMap features, IReadOnlyList<PromptMask> prompts)
    {
        var g = features.Geometry;
        var cells = features.Height * features.Width;
        var coverage = new PooledArray<float>(prompts.Count * cells);
        try
        {
            using var inputMask = new PooledArray<float>(g.PaddedHeight * g.PaddedWidth);
            for (var k = 0; k < prompts.Count; k++)
            {
                var own = coverage.Span.Slice(k * cells, cells);
                _preprocessor.MaskToInput(prompts[k].Mask.Span, g.SourceWidth, g.SourceHeight, g, inputMask.Span, prompts[k].Label);
                Preprocessor.AreaDownsample(inputMask.Span, g.PaddedWidth, g.PaddedHeight, _model.Manifest.FeatureStride, own);
                if (!CoversAnyCell(own) && Preprocessor.CentreCellToInput(prompts[k].Mask.Span, prompts[k].Label, g, inputMask.Span))
                    Preprocessor.AreaDownsample(inputMask.Span, g.PaddedWidth, g.PaddedHeight, _model.Manifest.FeatureStride, own);
                if (!CoversAnyCell(own))
                    throw new InvalidInputException($"the prompt mask of object {prompts[k].ObjectId} covers no pixel at the model's resolution");
            }
            return coverage;
        }
        catch
        {
            coverage.Dispose();
            throw;
        }
    }

    private static bool CoversAnyCell(ReadOnlySpan<float> coverage)
    {
        foreach (var p in coverage)
        {
            if (p > 0f)
                return true;
        }
        return false;
    }

    private static int[] ChannelsOf(IReadOnlyList<PromptMask> prompts, DenseMemory memory) =>
        [.. prompts.Select(p => memory.ChannelOf(p.ObjectId))];

    /// <summary>
    /// Writes each prompt, [prompts, cells] of <paramref name="coverage"/>, into the frame's
    /// labels [labelCount, cells] as its object's whole truth on this frame: first the
    /// object's decoded probability moves to the background everywhere (a re-prompt
    /// corrects drift, which the anchor must not keep beside the prompt), then the fraction
    /// of every cell the prompt covers moves to the object.
    /// </summary>
    internal static void PaintPrompts(ReadOnlySpan<float> coverage, ReadOnlySpan<int> channels, int labelCount, Span<float> labels)
    {
        var cells = labels.Length / labelCount;
        var background = labels[..cells];
        for (var k = 0; k < channels.Length; k++)
        {
            var own = labels.Slice(channels[k] * cells, cells);
            for (var cell = 0; cell < cells; cell++)
            {
                background[cell] += own[cell];
                own[cell] = 0f;
            }
        }
        for (var k = 0; k < channels.Length; k++)
        {
            var covered = coverage.Slice(k * cells, cells);
            var own = labels.Slice(channels[k] * cells, cells);
            for (var cell = 0; cell < cells; cell++)
            {
                var p = Math.Clamp(covered[cell], 0f, 1f);
                if (p == 0f)
                    continue;
                for (var c = 0; c < labelCount; c++)
                    labels[c * cells + cell] *= 1f - p;
                own[cell] += p;
            }
        }
    }
}
