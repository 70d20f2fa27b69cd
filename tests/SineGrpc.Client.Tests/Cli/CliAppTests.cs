using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Cli;

public class CliAppTests
{
    private static async Task<(int ExitCode, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exitCode = await CliApp.RunAsync(args, stdout, stderr, stderrIsTerminal: false, CancellationToken.None);
        return (exitCode, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task No_arguments_prints_usage_and_fails()
    {
        var (exitCode, _, stderr) = await Run();

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("Usage: sine <command>", stderr);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public async Task Help_lists_the_commands(string help)
    {
        var (exitCode, stdout, _) = await Run(help);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("track", stdout);
        Assert.Contains("segment", stdout);
        Assert.Contains("models", stdout);
    }

    [Theory]
    [InlineData("track", "--help")]
    [InlineData("help", "track")]
    public async Task Command_help_lists_its_options(string first, string second)
    {
        var (exitCode, stdout, _) = await Run(first, second);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("Usage: sine track", stdout);
        foreach (var option in new[] { "--input", "--mask", "--prompts", "--output", "--overlay", "--server", "--model", "--max-frames", "--encoding", "--jpeg-quality" })
        {
            Assert.Contains(option, stdout);
        }
    }

    [Fact]
    public async Task Unknown_command_is_a_usage_error()
    {
        var (exitCode, _, stderr) = await Run("trak");

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("unknown command 'trak'", stderr);
    }

    [Fact]
    public async Task Bad_option_is_a_usage_error()
    {
        var (exitCode, _, stderr) = await Run("models", "--sever", "http://x");

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("unknown option '--sever'", stderr);
    }

    [Fact]
    public async Task Track_without_objects_is_a_usage_error()
    {
        var (exitCode, _, stderr) = await Run("track", "--input", ".", "--output", "out");

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("--mask", stderr);
    }

    [Fact]
    public async Task Unreachable_server_prints_the_status_and_a_hint()
    {
        // Port 9 (discard) on the loopback: nothing listens there, so the connection is refused.
        var (exitCode, _, stderr) = await Run("models", "--server", "http://127.0.0.1:9");

        Assert.Equal(ExitCodes.Failure, exitCode);
        Assert.Contains("Unavailable", stderr);
        Assert.Contains("hint: is the server running", stderr);
    }

    [Fact]
    public async Task Track_help_says_mask_and_prompts_go_together_and_the_most_resumes()
    {
        var (_, stdout, _) = await Run("track", "--help");

        Assert.Contains("Usage: sine track --input <video|folder> --mask <png> and/or --prompts <folder> --output <folder> [options]", stdout);
        Assert.Contains("at most 100)", stdout);
    }

    [Fact]
    public async Task A_corrupt_mask_header_is_one_line_of_error_not_a_crash()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("frames"));
        temp.Touch("frames/00000.png", PalettePngWriter.Encode(2, 2, new byte[4], DavisPalette.Colors));
        var mask = PalettePngWriter.Encode(2, 2, [0, 1, 1, 0], DavisPalette.Colors);
        mask[16] = 0x80; // width 0x80000002: past int
        temp.Touch("mask.png", mask);

        var (exitCode, _, stderr) = await Run("track", "--input", temp.File("frames"), "--mask", temp.File("mask.png"), "--output", temp.File("out"));

        Assert.Equal(ExitCodes.Failure, exitCode);
        Assert.Equal($"error: mask {temp.File("mask.png")}: PNG size 2147483650x2 is out of range", stderr.TrimEnd());
    }

    [Fact]
    public async Task An_unexpected_exception_is_one_line_of_error_and_exit_code_1()
    {
        using var temp = new TempFolder();
        temp.Touch("mask.png");
        // No shell passes a NUL, but nothing in the CLI expects one: .NET refuses it with an ArgumentException.
        var (exitCode, _, stderr) = await Run("track", "--input", temp.Path, "--mask", temp.File("mask.png"), "--output", "out\0x");

        Assert.Equal(ExitCodes.Failure, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.EndsWith("(ArgumentException)", line.TrimEnd());
    }
}
