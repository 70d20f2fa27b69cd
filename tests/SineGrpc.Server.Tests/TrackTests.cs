using Google.Protobuf;
using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class TrackTests(ServerFixture server)
{
    private const int Frames = 16;

    [Theory]
    [InlineData("")]                          // the embedded default (dense memory)
    [InlineData(ServerFixture.TokenModel)]    // a tokens-kind (SINE-shaped) bundle
    public async Task Tracks_a_moving_object_with_one_encoder_run_per_frame(string model)
    {
        using var video = new SyntheticVideo();
        var (frames, truths) = TrackClient.PromptedClip(video, Frames);
        var encoder = server.Catalog.Find(model)!.Encoder;
        var runsBefore = encoder.Runs;

        var replies = await TrackClient.RunAsync(server.Client, [TrackClient.Start(model), .. frames]);

        Assert.Equal(Frames, encoder.Runs - runsBefore);
        Assert.Equal(Enumerable.Range(0, Frames).Select(i => (ulong)i), replies.Select(r => r.FrameIndex));
        var ious = new List<double>();
        for (var t = 1; t < Frames; t++)
        {
            Assert.Null(replies[t].Error);
            var obj = Assert.Single(replies[t].Objects);
            Assert.Equal(1u, obj.ObjectId);
            Assert.InRange(obj.Score, 0f, 1f);
            ious.Add(SyntheticVideo.IoU(TrackClient.Decode(obj), truths[t], 1));
        }
        var meanIoU = ious.Average();
        Assert.True(meanIoU >= 0.5, $"mean IoU {meanIoU:F3} on model '{model}' is below 0.5 (per frame: {string.Join(", ", ious.Select(i => i.ToString("F2")))})");
    }

    [Fact]
    public async Task An_object_prompted_mid_stream_is_tracked_from_that_frame()
    {
        using var video = new SyntheticVideo();
        const int secondFrom = 6;
        var requests = new List<TrackRequest> { TrackClient.Start(layout: MaskLayout.Index) };
        var truths = new List<byte[]>();
        for (var t = 0; t < 12; t++)
        {
            var (frame, truth) = video.Render(t, secondFrom);
            using (frame)
            {
                truths.Add(truth);
                var prompts = t switch
                {
                    0 => new[] { TrackClient.TruthPrompt(truth, 1) },
                    secondFrom => [TrackClient.TruthPrompt(truth, 2)],
                    _ => [],
                };
                requests.Add(TrackClient.Frame((ulong)t, SyntheticVideo.Jpeg(frame), prompts));
            }
        }

        var replies = await TrackClient.RunAsync(server.Client, requests);

        Assert.All(replies.Take(secondFrom), r => Assert.Equal([1u], r.Objects.Select(o => o.ObjectId)));
        Assert.All(replies.Skip(secondFrom), r => Assert.Equal([1u, 2u], r.Objects.Select(o => o.ObjectId)));
        Assert.All(replies, r => Assert.False(r.IndexMask.IsEmpty));
        var second = replies.Skip(secondFrom + 1).Select((r, i) => SyntheticVideo.IoU(TrackClient.Decode(r.Objects[1]), truths[secondFrom + 1 + i], 2)).Average();
        Assert.True(second >= 0.5, $"mean IoU of the late object is {second:F3}");
    }

    [Fact]
    public async Task Live_mode_skips_stale_frames_but_answers_every_frame_in_order()
    {
        using var video = new SyntheticVideo();
        var start = TrackClient.Start();
        start.Start.Live = true;
        var requests = new List<TrackRequest> { start };
        var truths = new List<byte[]>();
        for (var t = 0; t < 12; t++)
        {
            var (frame, truth) = video.Render(t);
            using (frame)
            {
                truths.Add(truth);
                var prompts = t == 0 ? new[] { TrackClient.TruthPrompt(truth, 1) } : [];
                requests.Add(TrackClient.Frame((ulong)t, SyntheticVideo.Jpeg(frame), prompts));
            }
        }

        // All frames are sent at once, far faster than a CPU serves them.
        using var skipped = new ServiceCount(server.Services, "sine.frames.skipped");
        var replies = await TrackClient.RunAsync(server.Client, requests);

        Assert.Equal(Enumerable.Range(0, 12).Select(i => (ulong)i), replies.Select(r => r.FrameIndex));
        Assert.False(replies[0].Skipped);                      // it carries the prompt
        Assert.False(replies[^1].Skipped);                     // the newest frame always wins
        Assert.Contains(replies, r => r.Skipped);
        Assert.All(replies.Where(r => r.Skipped), r => Assert.Empty(r.Objects));
        Assert.Equal(replies.Count(r => r.Skipped), skipped.Value);   // sine_frames_skipped_total
        var served = replies.Select((r, t) => (r, t)).Where(x => !x.r.Skipped && x.t > 0).ToList();
        Assert.All(served, x => Assert.True(SyntheticVideo.IoU(TrackClient.Decode(x.r.Objects[0]), truths[x.t], 1) >= 0.5));
    }

    [Fact]
    public async Task Undecodable_frame_gets_an_error_reply_and_the_stream_goes_on()
    {
        using var video = new SyntheticVideo();
        var (f0, truth) = video.Render(0);
        var (f1, _) = video.Render(1);
        using (f0)
        using (f1)
        {
            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, SyntheticVideo.Jpeg(f0), TrackClient.TruthPrompt(truth, 1)),
                TrackClient.Frame(1, [0xde, 0xad, 0xbe, 0xef, 1, 2, 3]),
                TrackClient.Frame(2, SyntheticVideo.Jpeg(f1)),
            ]);
            Assert.Equal(3, replies.Count);
            Assert.Equal((int)StatusCode.InvalidArgument, replies[1].Error.Code);
            Assert.Equal("INVALID_ARGUMENT", replies[1].Error.Status);
            Assert.Equal("frame 1: image bytes are not JPEG, PNG or WebP", replies[1].Error.Message);
            Assert.Null(replies[2].Error);
            Assert.Single(replies[2].Objects);
        }
    }

    [Fact]
    public async Task Frame_before_start_ends_the_stream_with_failed_precondition()
    {
        using var video = new SyntheticVideo();
        var (frame, _) = video.Render(0);
        using (frame)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(server.Client, [TrackClient.Frame(0, SyntheticVideo.Jpeg(frame))]));
            Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
            Assert.Contains("start", error.Status.Detail);
        }
    }

    [Fact]
    public async Task Second_start_ends_the_stream_with_failed_precondition()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(server.Client, [TrackClient.Start(), TrackClient.Start()]));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("already sent", error.Status.Detail);
    }

    [Fact]
    public async Task Unknown_model_is_not_found()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(server.Client, [TrackClient.Start("no-such-model")]));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains("no-such-model", error.Status.Detail);
    }

    [Fact]
    public async Task Bad_masks_and_oversized_images_are_rejected_per_frame()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            var wrongSize = SyntheticVideo.MaskPng(new byte[100 * 80], 1, 100, 80);
            var badRle = new Prompt { ObjectId = 1, Mask = new Mask { Rle = new Rle { Height = SyntheticVideo.Height, Width = SyntheticVideo.Width, UncompressedCounts = { 10, 20 } } } };
            using var huge = new OpenCvSharp.Mat(1001, 1000, OpenCvSharp.MatType.CV_8UC3, OpenCvSharp.Scalar.All(90));
            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, jpeg, TrackClient.PngPrompt(1, wrongSize)),
                TrackClient.Frame(1, jpeg, badRle),
                TrackClient.Frame(2, SyntheticVideo.Png(huge)),
                TrackClient.Frame(3, jpeg, TrackClient.TruthPrompt(truth, 1)),
            ]);

            AssertRejectedThenTracked(replies, "100x80", "sum", "limit");
        }
    }

    [Fact]
    public async Task Raw_frames_with_an_unknown_format_or_sizes_beyond_int_are_rejected_per_frame()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var pixels = new byte[frame.Width * frame.Height * 3];
            System.Runtime.InteropServices.Marshal.Copy(frame.Data, pixels, 0, pixels.Length);
            TrackRequest Raw(ulong index, uint width, uint height, uint stride, PixelFormat format, params Prompt[] prompts)
            {
                var raw = new RawImage { Width = width, Height = height, Stride = stride, Format = format, Data = ByteString.CopyFrom(pixels) };
                var request = new TrackRequest { Frame = new TrackFrame { FrameIndex = index, Image = new Image { Raw = raw } } };
                request.Frame.Prompts.AddRange(prompts);
                return request;
            }
            uint w = (uint)frame.Width, h = (uint)frame.Height;

            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                Raw(0, w, h, 0, (PixelFormat)7),
                Raw(1, uint.MaxValue, uint.MaxValue, 0, PixelFormat.Bgr24),
                Raw(2, w, h, uint.MaxValue, PixelFormat.Bgr24),
                Raw(3, w, h, 0, PixelFormat.Bgr24, TrackClient.TruthPrompt(truth, 1)),
            ]);

            AssertRejectedThenTracked(replies, "image.raw.format 7 is not supported", "4294967295x4294967295 is over the limit", "stride 4294967295");
        }
    }

    [Fact]
    public async Task Prompt_sizes_and_ids_beyond_int_are_rejected_per_frame()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            var hugeRle = new Prompt { ObjectId = 2, Mask = new Mask { Rle = new Rle { Height = 1u << 31, Width = 1, UncompressedCounts = { 1 } } } };
            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, jpeg, hugeRle),
                TrackClient.Frame(1, jpeg, TrackClient.PngPrompt(uint.MaxValue, SyntheticVideo.MaskPng(truth, 1))),
                TrackClient.Frame(2, jpeg, TrackClient.TruthPrompt(truth, 1)),
            ]);

            AssertRejectedThenTracked(replies, "1x2147483648 but its frame is 320x240", "object id 4294967295 is out of range");
        }
    }

    [Fact]
    public async Task A_frame_with_tens_of_thousands_of_prompts_is_rejected_before_they_are_decoded()
    {
        // 60,000 RLE prompts are about 1 MB on the wire, and would be 4.6 GB of 320x240
        // masks once decoded: the count is checked first.
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            var flood = TrackClient.Frame(0, jpeg);
            for (uint id = 1; id <= 60_000; id++)
                flood.Frame.Prompts.Add(new Prompt { ObjectId = id, Mask = new Mask { Rle = new Rle { Height = SyntheticVideo.Height, Width = SyntheticVideo.Width, UncompressedCounts = { SyntheticVideo.Height * SyntheticVideo.Width } } } });
            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                flood,
                TrackClient.Frame(1, jpeg, TrackClient.TruthPrompt(truth, 1)),
            ]);

            AssertRejectedThenTracked(replies, "60000 prompts on one image are over the limit of 8 objects");
        }
    }

    [Theory]
    [InlineData(0u, 4294967295u, 0u, "output size 4294967295x0 is over the limit")]
    [InlineData(0u, 0u, 4294967295u, "output size 0x4294967295 is over the limit")]
    [InlineData(4294967295u, 0u, 0u, "memory capacity must be between 1 and 16, not 4294967295")]
    public async Task Start_options_beyond_int_end_the_stream_with_invalid_argument(uint capacity, uint width, uint height, string message)
    {
        var start = new TrackRequest
        {
            Start = new TrackStart { Memory = new MemoryOptions { Capacity = capacity }, Output = new OutputOptions { Width = width, Height = height } },
        };
        using var video = new SyntheticVideo();
        var (frame, _) = video.Render(0);
        using (frame)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(server.Client, [start, TrackClient.Frame(0, SyntheticVideo.Jpeg(frame))]));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains(message, error.Status.Detail);
        }
    }

    // The objects of an index mask share its plane (each reads its own label), where binary
    // masks each have their own: through both memory kinds' anchoring (the token model pools
    // a nearest-resized mask, the dense one a bilinear coverage) and the prompted frame's
    // overlay, the answers must be the same.
    [Theory]
    [InlineData("")]
    [InlineData(ServerFixture.TokenModel)]
    public async Task An_index_mask_prompts_as_its_objects_binary_masks_would(string model)
    {
        using var video = new SyntheticVideo();
        var frames = Enumerable.Range(0, 5).Select(t =>
        {
            var (frame, truth) = video.Render(t, secondFrom: 0);
            using (frame)
                return (Jpeg: SyntheticVideo.Jpeg(frame), Truth: truth);
        }).ToList();
        var truth = frames[0].Truth;
        using var labels = OpenCvSharp.Mat.FromPixelData(SyntheticVideo.Height, SyntheticVideo.Width, OpenCvSharp.MatType.CV_8UC1, truth);
        Prompt[] index = [TrackClient.PngPrompt(0, labels.ImEncode(".png"))];
        Prompt[] binary = [TrackClient.TruthPrompt(truth, 1), TrackClient.TruthPrompt(truth, 2)];

        List<TrackRequest> Stream(Prompt[] prompts) =>
            [TrackClient.Start(model), .. frames.Select((f, t) => TrackClient.Frame((ulong)t, f.Jpeg, t == 0 ? prompts : []))];
        var fromIndex = await TrackClient.RunAsync(server.Client, Stream(index));
        var fromBinary = await TrackClient.RunAsync(server.Client, Stream(binary));

        Assert.All(fromIndex, r => Assert.Null(r.Error));
        Assert.Equal(fromBinary, fromIndex, (a, b) =>
            a.Objects.Select(o => (o.ObjectId, o.Score, o.Mask, o.Area)).SequenceEqual(b.Objects.Select(o => (o.ObjectId, o.Score, o.Mask, o.Area))));
        Assert.All(fromIndex, r => Assert.Equal([1u, 2u], r.Objects.Select(o => o.ObjectId)));
        Assert.Equal((ulong)truth.Count(v => v == 2), fromIndex[0].Objects[1].Area);
    }

    [Fact]
    public async Task A_reply_whose_masks_would_be_over_the_mask_budget_is_refused_and_the_stream_goes_on()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            // Output 1000x750 = 750,000 pixels a mask: two objects' masks of their own fit the
            // fixture's 2,000,000, three do not (SINE's logits, in the per-object layout).
            var start = new TrackRequest { Start = new TrackStart { Model = ServerFixture.TokenModel, Output = new OutputOptions { Width = 1000 } } };
            var replies = await TrackClient.RunAsync(server.Client,
            [
                start,
                TrackClient.Frame(0, jpeg, Square(1), Square(2), Square(3)),
                TrackClient.Frame(1, jpeg, Square(1), Square(2)),
                TrackClient.Frame(2, jpeg, Square(3)),
                TrackClient.Frame(3, jpeg),
            ]);

            Assert.Equal(4, replies.Count);
            Assert.Equal((int)StatusCode.InvalidArgument, replies[0].Error?.Code);
            Assert.Equal("the reply to frame 0 would hold 3 masks of 1000x750 = 2250000 pixels, over Limits:MaxMaskPixels (2000000): " +
                "ask for fewer objects, the index layout (output.layout) or a smaller output size (output.width, output.height)", replies[0].Error.Message);
            Assert.Equal([1u, 2u], replies[1].Objects.Select(o => o.ObjectId));
            // A third object joining the two is refused alike; the two go on.
            Assert.Equal((int)StatusCode.InvalidArgument, replies[2].Error?.Code);
            Assert.Equal([1u, 2u], replies[3].Objects.Select(o => o.ObjectId));
            Assert.Equal(1000u, replies[3].Width);

            // Where masks cannot overlap, the objects share one plane of owners, so any number
            // of them fits: the index layout, and the embedded model, whose objects compete for
            // each pixel in any layout.
            var index = start.Clone();
            index.Start.Output.Layout = MaskLayout.Index;
            var embedded = new TrackRequest { Start = new TrackStart { Output = new OutputOptions { Width = 1000 } } };
            foreach (var shared in new[] { index, embedded })
            {
                var answered = await TrackClient.RunAsync(server.Client, [shared, TrackClient.Frame(0, jpeg, Square(1), Square(2), Square(3)), TrackClient.Frame(1, jpeg)]);
                Assert.All(answered, r => Assert.Null(r.Error));
                Assert.All(answered, r => Assert.Equal([1u, 2u, 3u], r.Objects.Select(o => o.ObjectId)));
                // Each object's mask is its own, read from the shared plane: its prompt on the prompted frame.
                // (Object i's band starts at column 20i of 320, 62.5i of 1000, and is 31 or 32 wide there.)
                Assert.All(answered[0].Objects, o => Assert.InRange(o.Box.X, 62.5 * o.ObjectId - 1, 62.5 * o.ObjectId + 1));
                Assert.All(answered[0].Objects, o => Assert.InRange(o.Box.Width, 31u, 32u));
            }
        }

        static Prompt Square(uint id) => new()
        {
            ObjectId = id,
            Mask = new Mask { Rle = new Rle { Height = SyntheticVideo.Height, Width = SyntheticVideo.Width, UncompressedCounts = { 240u * (id * 20), 240u * 10, 240u * (320 - id * 20 - 10) } } },
        };
    }

    [Fact]
    public async Task An_output_width_alone_whose_frames_would_be_over_the_pixel_limit_fails_each_frame()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            // 1200 wide keeps a 320x240 frame's aspect at 1200x900 = 1.08 MP, over the fixture's 1 MP.
            var start = new TrackRequest { Start = new TrackStart { Output = new OutputOptions { Width = 1200 } } };
            var replies = await TrackClient.RunAsync(server.Client, [start, TrackClient.Frame(0, jpeg, TrackClient.TruthPrompt(truth, 1))]);

            var reply = Assert.Single(replies);
            Assert.Equal((int)StatusCode.InvalidArgument, reply.Error.Code);
            Assert.Contains("output size 1200x900 (for a 320x240 frame) is over the limit of 1000000 pixels", reply.Error.Message);
        }
    }

    [Fact]
    public async Task A_frame_of_another_shape_is_rejected_on_the_dense_model_and_a_scaled_one_is_served()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        using (var otherShape = frame.Resize(new OpenCvSharp.Size(SyntheticVideo.Width, SyntheticVideo.Width)))
        using (var halfSize = frame.Resize(new OpenCvSharp.Size(SyntheticVideo.Width / 2, SyntheticVideo.Height / 2)))
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, jpeg, TrackClient.TruthPrompt(truth, 1)),
                TrackClient.Frame(1, SyntheticVideo.Jpeg(otherShape)),
                TrackClient.Frame(2, SyntheticVideo.Jpeg(halfSize)),
                TrackClient.Frame(3, jpeg),
            ]);

            Assert.Equal(4, replies.Count);
            Assert.Equal((int)StatusCode.InvalidArgument, replies[1].Error.Code);
            Assert.Contains("frame size changed within the stream", replies[1].Error.Message);
            // Half the size maps to the same feature grid (frames are resized to the model's input).
            Assert.Null(replies[2].Error);
            Assert.Equal((SyntheticVideo.Width / 2u, SyntheticVideo.Height / 2u), (replies[2].Width, replies[2].Height));
            Assert.Single(replies[2].Objects);
            Assert.Null(replies[3].Error);
            Assert.Single(replies[3].Objects);
        }
    }

    [Theory]
    [InlineData("")]                          // refused: a frame of another shape (dense memory)
    [InlineData(ServerFixture.TokenModel)]    // refused: a prompt mask of another size than its frame
    public async Task A_refused_frame_does_not_remove_the_objects_it_asks_to_remove(string model)
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        using (var otherShape = frame.Resize(new OpenCvSharp.Size(SyntheticVideo.Width, SyntheticVideo.Width)))
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            var corner = new byte[SyntheticVideo.Width * SyntheticVideo.Height];
            for (var y = 0; y < 40; y++)
                corner.AsSpan(y * SyntheticVideo.Width, 40).Fill(2);
            var refused = model == ""
                ? TrackClient.Frame(1, SyntheticVideo.Jpeg(otherShape))
                : TrackClient.Frame(1, jpeg, TrackClient.PngPrompt(3, SyntheticVideo.MaskPng(new byte[100 * 100], 3, 100, 100)));
            refused.Frame.RemoveObjectIds.Add(1);
            var accepted = TrackClient.Frame(3, jpeg);
            accepted.Frame.RemoveObjectIds.Add(1);

            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(model),
                TrackClient.Frame(0, jpeg, TrackClient.TruthPrompt(truth, 1), TrackClient.PngPrompt(2, SyntheticVideo.MaskPng(corner, 2))),
                refused,
                TrackClient.Frame(2, jpeg),
                accepted,
            ]);

            Assert.Equal((int)StatusCode.InvalidArgument, replies[1].Error.Code);
            Assert.Null(replies[2].Error);
            Assert.Equal([1u, 2u], replies[2].Objects.Select(o => o.ObjectId));
            Assert.Null(replies[3].Error);
            Assert.Equal([2u], replies[3].Objects.Select(o => o.ObjectId));
        }
    }

    [Theory]
    // Frames within the test server's 1 M pixel limit, resized by each model so that pixel (3, 3) is never read.
    [InlineData("", 3072, 240)]                        // to 1024 x 80: bilinear at a third reads rows and columns 1, 4, 7, ...
    [InlineData(ServerFixture.TokenModel, 320, 240)]   // to 128 x 96: the nearest rule reads 0, 2, 5, 7, ...
    public async Task A_prompt_the_resize_to_the_model_s_input_loses_is_tracked_from_the_cell_around_it(string model, int width, int height)
    {
        using var video = new SyntheticVideo();
        var requests = new List<TrackRequest> { TrackClient.Start(model) };
        for (var t = 0; t < 3; t++)
        {
            var (frame, truth) = video.Render(t);
            using (frame)
            using (var large = frame.Resize(new OpenCvSharp.Size(width, height)))
            {
                var request = TrackClient.Frame((ulong)t, SyntheticVideo.Jpeg(large));
                if (t == 0)
                {
                    using var truthMat = OpenCvSharp.Mat.FromPixelData(SyntheticVideo.Height, SyntheticVideo.Width, OpenCvSharp.MatType.CV_8UC1, truth);
                    using var largeTruth = truthMat.Resize(new OpenCvSharp.Size(width, height), 0, 0, OpenCvSharp.InterpolationFlags.Nearest);
                    largeTruth.GetArray(out byte[] objects);
                    // Object 3: the one pixel (3, 3), which neither model's resize reads.
                    objects[3 * width + 3] = 3;
                    using var index = OpenCvSharp.Mat.FromPixelData(height, width, OpenCvSharp.MatType.CV_8UC1, objects);
                    request.Frame.Prompts.Add(TrackClient.PngPrompt(0, index.ImEncode(".png")));
                }
                requests.Add(request);
            }
        }

        var replies = await TrackClient.RunAsync(server.Client, requests);

        Assert.All(replies, r => Assert.Null(r.Error));
        Assert.All(replies, r => Assert.Equal([1u, 3u], r.Objects.Select(o => o.ObjectId)));
        // The prompted frame answers with the prompt itself.
        Assert.Equal(1u, replies[0].Objects.Single(o => o.ObjectId == 3).Area);
    }

    [Fact]
    public async Task Objects_are_prompted_on_at_most_the_limit_of_frames_on_the_dense_model()
    {
        using var video = new SyntheticVideo();
        var (frame, _) = video.Render(0);
        using (frame)
        {
            var jpeg = SyntheticVideo.Jpeg(frame);
            // Object k: a 20x20 square at (40k, 10), prompted alone on frame k - 1.
            Prompt Square(uint id)
            {
                var mask = new byte[SyntheticVideo.Width * SyntheticVideo.Height];
                for (var y = 10; y < 30; y++)
                    mask.AsSpan(y * SyntheticVideo.Width + 40 * (int)id, 20).Fill((byte)id);
                return TrackClient.PngPrompt(id, SyntheticVideo.MaskPng(mask, (byte)id));
            }
            var beyond = TrackClient.Frame(3, jpeg, Square(4));
            var replacing = TrackClient.Frame(4, jpeg, Square(4));
            replacing.Frame.RemoveObjectIds.Add(1);
            var reanchoring = TrackClient.Frame(5, jpeg, Square(2));

            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, jpeg, Square(1)),
                TrackClient.Frame(1, jpeg, Square(2)),
                TrackClient.Frame(2, jpeg, Square(3)),
                beyond,
                replacing,
                reanchoring,
            ]);

            Assert.Equal(3, ServerFixture.PromptedFrameLimit);
            Assert.All(replies.Take(3), r => Assert.Null(r.Error));
            Assert.Equal((int)StatusCode.InvalidArgument, replies[3].Error.Code);
            Assert.Contains("prompted on 4 different frames, over this model's limit of 3", replies[3].Error.Message);
            // Removing object 1 frees its frame for object 4; re-anchoring object 2 keeps the count.
            Assert.Null(replies[4].Error);
            Assert.Equal([2u, 3u, 4u], replies[4].Objects.Select(o => o.ObjectId));
            Assert.Null(replies[5].Error);
            Assert.Equal([2u, 3u, 4u], replies[5].Objects.Select(o => o.ObjectId));
        }
    }

    [Fact]
    public async Task A_mask_one_pixel_narrower_than_its_frame_is_padded()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            // Drop the last column, as DAVIS-style judo/00005.png does.
            var narrow = new byte[(SyntheticVideo.Width - 1) * SyntheticVideo.Height];
            for (var y = 0; y < SyntheticVideo.Height; y++)
                Array.Copy(truth, y * SyntheticVideo.Width, narrow, y * (SyntheticVideo.Width - 1), SyntheticVideo.Width - 1);
            var replies = await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, SyntheticVideo.Jpeg(frame), TrackClient.PngPrompt(1, SyntheticVideo.MaskPng(narrow, 1, SyntheticVideo.Width - 1))),
            ]);
            Assert.Null(Assert.Single(replies).Error);
            Assert.True(SyntheticVideo.IoU(TrackClient.Decode(replies[0].Objects[0]), truth, 1) > 0.99);
        }
    }

    [Fact]
    public async Task Streams_over_the_limit_are_resource_exhausted_and_slots_come_back()
    {
        var open = new List<AsyncDuplexStreamingCall<TrackRequest, TrackResponse>>();
        try
        {
            for (var i = 0; i < ServerFixture.StreamLimit; i++)
            {
                var call = server.Client.Track();
                await call.RequestStream.WriteAsync(TrackClient.Start());
                open.Add(call);
            }
            // Let the server accept them before asking for one more.
            await Wait.UntilAsync(() => server.Slots.Open == ServerFixture.StreamLimit, TimeSpan.FromSeconds(5));

            // Refused as the call opens, before any message: the client sends none, so no write
            // of its own races the server's answer (a write to a call the server has already
            // ended can surface as a reset, CANCELLED, instead of the status).
            using var refused = server.Client.Track();
            var error = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        }
        finally
        {
            foreach (var call in open)
            {
                await call.RequestStream.CompleteAsync();
                await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
                call.Dispose();
            }
        }
        await Wait.UntilAsync(() => server.Slots.Open == 0, TimeSpan.FromSeconds(5));
        Assert.Empty(await TrackClient.RunAsync(server.Client, [TrackClient.Start()]));
    }

    /// <summary>Each reply but the last is INVALID_ARGUMENT saying its text; the last is served, with the one object.</summary>
    private static void AssertRejectedThenTracked(List<TrackResponse> replies, params string[] rejections)
    {
        Assert.Equal(rejections.Length + 1, replies.Count);
        for (var i = 0; i < rejections.Length; i++)
        {
            Assert.Equal((int)StatusCode.InvalidArgument, replies[i].Error?.Code);
            Assert.Contains(rejections[i], replies[i].Error.Message);
        }
        Assert.Null(replies[^1].Error);
        Assert.Single(replies[^1].Objects);
    }
}
