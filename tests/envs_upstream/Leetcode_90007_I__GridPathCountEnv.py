import gymnasium
import ast
import json


class GridPathCountEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.CELL_OPEN = 1
        self.PATHS_TO = 2
        self.DONE = 3

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "CellOpen": self.CELL_OPEN,
            "PathsTo": self.PATHS_TO,
            "Done": self.DONE,
        }

        if env_str is not None:
            options = ast.literal_eval(env_str.split("@")[1])
            self.reset(options)
        else:
            self.reset()

    # [Required] Define the property and staticmethod of the environment
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "GridPathCountEnv@"
        if not env_str.startswith(prefix):
            return None
        return GridPathCountEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        # no defaults: with empty options this raises (KeyError), as some published envs do
        self.grid = [list(row) for row in options["grid"]]
        self.rows, self.cols = len(self.grid), len(self.grid[0])
        self.memo = {}
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        ways = [[0] * self.cols for _ in range(self.rows)]
        for r in range(self.rows):
            for c in range(self.cols):
                if self.grid[r][c] == "#":
                    continue
                if r == 0 and c == 0:
                    ways[r][c] = 1
                else:
                    ways[r][c] = (ways[r - 1][c] if r else 0) + (ways[r][c - 1] if c else 0)
        return ways[-1][-1]

    # [Required] Define the step method of the environment
    def step(self, action: str):
        self.step_count += 1
        try:
            call_dict = json.loads(action)
            assert "name" in call_dict, "function call doesn't have `name`"
            assert "parameters" in call_dict, "function call doesn't have `parameters`"
            action_name = call_dict["name"]
            params = call_dict["parameters"]

            if action_name not in self.func_mapping:
                raise ValueError(f"Invalid action: {action_name}")

            action_code = self.func_mapping[action_name]

            if action_code == self.OBSERVE:
                msg = self.Observe()
            elif action_code == self.CELL_OPEN:
                if "row" in params and "col" in params:
                    msg = self.CellOpen(params["row"], params["col"])
                else:
                    msg = "Error: 'row' or 'col' parameter is missing for CELL_OPEN action."
            elif action_code == self.PATHS_TO:
                if "row" in params and "col" in params:
                    msg = self.PathsTo(params["row"], params["col"])
                else:
                    msg = "Error: 'row' or 'col' parameter is missing for PATHS_TO action."
            elif action_code == self.DONE:
                if "answer" in params:
                    msg = self.Done(params["answer"])
                else:
                    msg = "Error: 'answer' parameter is missing for DONE action."
        except Exception as e:
            msg = f"Error: {str(e)}"

        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the size of the grid.

        Args:
            None

        Returns:
            str: The number of rows and columns as JSON.

        Example Output:
            "{\"rows\": 3, \"cols\": 4}"
        """
        return json.dumps({"rows": self.rows, "cols": self.cols})

    def CellOpen(self, row: int, col: int):
        r"""
        Tell whether a cell can be walked on.

        Args:
            row (int): The row, from 0.
            col (int): The column, from 0.

        Returns:
            str: "true" or "false".

        Example Output:
            "true"
        """
        return "true" if self.grid[row][col] != "#" else "false"

    def PathsTo(self, row: int, col: int):
        r"""
        Count the right/down paths from the top-left cell to a cell; asks the environment about
        the cells above and to the left itself.

        Args:
            row (int): The row, from 0.
            col (int): The column, from 0.

        Returns:
            str: The number of paths.

        Example Output:
            "6"
        """
        if (row, col) in self.memo:
            return str(self.memo[(row, col)])
        if self.step(json.dumps({"name": "CellOpen", "parameters": {"row": row, "col": col}}))[1] != "true":
            count = 0
        elif row == 0 and col == 0:
            count = 1
        else:
            count = 0
            if row > 0:
                count += int(self.step(json.dumps({"name": "PathsTo", "parameters": {"row": row - 1, "col": col}}))[1])
            if col > 0:
                count += int(self.step(json.dumps({"name": "PathsTo", "parameters": {"row": row, "col": col - 1}}))[1])
        self.memo[(row, col)] = count
        return str(count)

    def Done(self, answer):
        r"""
        Submit the number of paths to the bottom-right cell.

        Args:
            answer (int): The number of paths.

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: 6, Reference answer: 6, Result: Correct, reward=1"
        """
        ref_answer = self.get_ref_answer()
        correct = answer == ref_answer
        self._reward = 1 if correct else 0
        self._done = True
        msg = f"Your answer: {answer}, Reference answer: {ref_answer}, Result: {'Correct' if correct else 'Incorrect'}"
        return msg + f", reward={self._reward}"

    # Define the solve method of the environment
    def solve(self):
        r"""
        Ask for the paths to each cell of the last row; PathsTo fills the rest by itself.

        Returns:
            str: The result message of Done.
        """
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        rows, cols = info["rows"], info["cols"]
        count = 0
        for col in range(cols):
            count = int(self.step(json.dumps({"name": "PathsTo", "parameters": {"row": rows - 1, "col": col}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": count}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "GridPathCountEnv@{\"grid\": [\"....\", \".#..\", \"....\"]}"
    env1 = GridPathCountEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    test_env_str2 = "GridPathCountEnv@" + "{\"grid\": [\"...\", \"...\", \"#..\", \"...\"]}"
    env2 = GridPathCountEnv.from_env_str(test_env_str2)
    print(env2.solve())
    print("step count:", env2.step_count)
