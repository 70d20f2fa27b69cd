using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// Triton-style dynamic batching of one model's encoder across streams: a frame waits
/// at most <see cref="BatchingOptions.MaxQueueDelayMicroseconds"/> for frames of the same
/// input size from other streams, then they run as one batch. It waits only while other
/// streams are open that could join, so a lone stream never pays the delay. Each stream
/// awaits its frame before sending the next, so every stream keeps its frame order. The
/// queue is bounded: when full, callers wait (backpressure) instead of piling up frames.
/// </summary>
public sealed class EncoderBatcher : IAsyncDisposable
{
    private static readonly string[] InputNames = ["image"];
    private readonly OnnxComponent _encoder;
    private readonly BatchingOptions _options;
    private readonly EngineMetrics _metrics;
    private readonly Channel<Work> _queue;
    private readonly SemaphoreSlim _inFlight;
    private readonly int _maxBatch;
    private readonly Task _loop;
    private int _clients;

    public EncoderBatcher(OnnxComponent encoder, BatchingOptions options, EngineMetrics metrics)
    {
        _encoder = encoder;
        _options = options;
        _metrics = metrics;
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(Math.Max(1, options.QueueCapacity))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        // One batch in flight per session, as Triton runs one per model instance: while it
        // runs, the next batch collects. Allowing a session's second run slot here too made
        // no difference on the 2-core CPU (4 streams, 60 frames, 2026-11-28: 1.02x the raw
        // frames/s with it, 1.01x without) and would split the batches a GPU profits from.
        _inFlight = new SemaphoreSlim(encoder.SessionCount);
        _maxBatch = Math.Max(1, options.MaxBatchSize);
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Streams currently able to send frames (they may join each other's batches).</summary>
    public int Clients => Volatile.Read(ref _clients);

    /// <summary>Registers a stream for as long as the returned handle lives.</summary>
    public IDisposable Join()
    {
        Interlocked.Increment(ref _clients);
        return new Membership(this);
    }

    /// <summary>
    /// Encodes one image [3, H, W] into <paramref name="output"/> [C, h, w]. Completes when
    /// the batch holding it has run.
    /// </summary>
    /// <remarks>
    /// Cancelling withdraws a frame still waiting for its batch. A frame whose batch has
    /// started is not abandoned: the run reads the caller's image and writes the caller's
    /// output, so the call returns only when it has ended and the caller may reuse them.
    /// </remarks>
    public async Task EncodeAsync(HostTensor image, int height, int width, PooledArray<float> output, long[] outputShape, CancellationToken cancellationToken)
    {
        var work = new Work(image, height, width, output, outputShape, Stopwatch.GetTimestamp());
        await _queue.Writer.WriteAsync(work, cancellationToken);
        using (cancellationToken.Register(static (state, token) => ((Work)state!).TryWithdraw(token), work))
            await work.Done.Task;
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        Work? carry = null;
        var delay = TimeSpan.FromMicroseconds(Math.Max(0, _options.MaxQueueDelayMicroseconds));
        while (true)
        {
            Work first;
            if (carry is not null)
            {
                first = carry;
                carry = null;
            }
            else if (!await reader.WaitToReadAsync() || !reader.TryRead(out first!))
            {
                break;
            }

            var batch = new List<Work>(_maxBatch) { first };
            var deadline = first.Enqueued + (long)(delay.TotalSeconds * Stopwatch.Frequency);
            while (batch.Count < _maxBatch)
            {
                if (reader.TryRead(out var next))
                {
                    if (next.Height == first.Height && next.Width == first.Width)
                    {
                        batch.Add(next);
                        continue;
                    }
                    carry = next;      // another input size: it starts the next batch
                    break;
                }
                if (_options.PreferredBatchSizes.Contains(batch.Count) || Clients <= batch.Count)
                    break;
                var remaining = TimeSpan.FromSeconds((double)(deadline - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
                if (remaining <= TimeSpan.Zero)
                    break;
                using var timeout = new CancellationTokenSource(remaining);
                try
                {
                    if (!await reader.WaitToReadAsync(timeout.Token))
                        break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            await _inFlight.WaitAsync();
            _ = Task.Run(async () =>
            {
                try
                {
                    await RunAsync(batch);
                }
                finally
                {
                    _inFlight.Release();
                }
            });
        }
    }

    private async Task RunAsync(List<Work> batch)
    {
        batch.RemoveAll(work => !work.TryClaim());
        if (batch.Count == 0)
            return;
        var first = batch[0];
        var count = batch.Count;
        var inputLength = 3 * first.Height * first.Width;
        var outputLength = first.Output.Length;
        try
        {
            if (_encoder.RecordsMetrics)
            {
                foreach (var work in batch)
                    _metrics.Queued(_encoder.Model, "encoder-batch", Stopwatch.GetElapsedTime(work.Enqueued));
                _metrics.Batched(_encoder.Model, count);
            }
            if (count == 1)
            {
                // The common case: bind the caller's own buffers, no copies.
                using var input = first.Image.AsOrtValue(1, 3, first.Height, first.Width);
                using var output = OrtTensors.Wrap(first.Output.Memory, first.OutputShape);
                await _encoder.RunIntoAsync(InputNames, [input], "features", output);
            }
            else
            {
                // Sized for the largest batch whatever this one's size: batches of every size
                // then reuse the same buffers, and a rare large batch allocates nothing new.
                using var images = _encoder.InputMemory.Rent(count * inputLength, _maxBatch * inputLength);
                using var features = new PooledArray<float>(count * outputLength, _maxBatch * outputLength);
                for (var i = 0; i < count; i++)
                    batch[i].Image.Span.CopyTo(images.Span.Slice(i * inputLength, inputLength));
                var shape = (long[])first.OutputShape.Clone();
                shape[0] = count;
                using var input = images.AsOrtValue(count, 3, first.Height, first.Width);
                using var output = OrtTensors.Wrap(features.Memory, shape);
                await _encoder.RunIntoAsync(InputNames, [input], "features", output);
                for (var i = 0; i < count; i++)
                    features.Span.Slice(i * outputLength, outputLength).CopyTo(batch[i].Output.Span);
            }
            foreach (var work in batch)
                work.Done.TrySetResult();
        }
        catch (Exception e)
        {
            foreach (var work in batch)
                work.Done.TrySetException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    private sealed record Work(HostTensor Image, int Height, int Width, PooledArray<float> Output, long[] OutputShape, long Enqueued)
    {
        private const int Waiting = 0, Claimed = 1, Withdrawn = 2;
        private int _state;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Takes the frame into a batch that is about to run; false when its caller has withdrawn it.</summary>
        public bool TryClaim() => Interlocked.CompareExchange(ref _state, Claimed, Waiting) == Waiting;

        /// <summary>Withdraws the frame unless a batch has claimed it (then it runs to the end).</summary>
        public void TryWithdraw(CancellationToken cancellationToken)
        {
            if (Interlocked.CompareExchange(ref _state, Withdrawn, Waiting) == Waiting)
                Done.TrySetCanceled(cancellationToken);
        }
    }

    private sealed class Membership(EncoderBatcher owner) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
                Interlocked.Decrement(ref owner._clients);
        }
    }
}
